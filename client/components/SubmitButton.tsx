import type { ReactNode } from 'react'

// A submit button that says it is working and cannot be pressed twice.
export default function SubmitButton({
  busy,
  busyLabel,
  children,
  className = 'btn btn-primary',
  type = 'submit',
  onClick,
  disabled,
}: {
  busy: boolean
  busyLabel: string
  children: ReactNode
  className?: string
  type?: 'submit' | 'button'
  onClick?: () => void
  disabled?: boolean
}) {
  return (
    <button type={type} className={className} disabled={busy || disabled} aria-busy={busy || undefined} onClick={onClick}>
      {busy ? (
        <>
          <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
          {busyLabel}
        </>
      ) : (
        children
      )}
    </button>
  )
}
