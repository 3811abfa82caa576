// A few line icons drawn inline: no icon font, no emoji font, nothing fetched.
const paths = {
  ticket:
    'M3 8a2 2 0 0 0 2-2h14a2 2 0 0 0 2 2v2a2 2 0 0 0 0 4v2a2 2 0 0 0-2 2H5a2 2 0 0 0-2-2v-2a2 2 0 0 0 0-4V8z M15 6v12',
  tag: 'M3 12V4h8l10 10-8 8L3 12z M7.5 7.5h.01',
  receipt: 'M6 3h12v18l-3-2-3 2-3-2-3 2V3z M9 8h6 M9 12h6 M9 16h4',
  search: 'M11 4a7 7 0 1 1 0 14a7 7 0 0 1 0-14z M21 21l-5-5',
  inbox: 'M3 13l3-8h12l3 8v6H3v-6z M3 13h5l1 3h6l1-3h5',
  alert: 'M12 3l10 18H2L12 3z M12 10v5 M12 18h.01',
} as const

export type IconName = keyof typeof paths

export default function Icon({ name, size = 24, className }: { name: IconName; size?: number; className?: string }) {
  return (
    <svg
      className={className}
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.75}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d={paths[name]} />
    </svg>
  )
}
