// Where to send people, and where to send them back to.

/**
 * safeNextPath accepts a "come back here" target only if it is a path on this
 * site: it must start with one "/" (not "//host" or "/\host", which browsers
 * treat as another origin) and contain no scheme or control characters.
 * Anything else falls back to the home page, so a crafted sign-in link cannot
 * bounce a user to someone else's site.
 */
export function safeNextPath(next: string | string[] | null | undefined, fallback = '/'): string {
  const value = Array.isArray(next) ? next[0] : next
  if (!value || typeof value !== 'string') return fallback
  if (!value.startsWith('/')) return fallback
  if (value.startsWith('//') || value.startsWith('/\\')) return fallback
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return fallback
  if (value.startsWith('/auth/')) return fallback
  return value
}

/** signInPath is the sign-in page that returns to next afterwards. */
export function signInPath(next: string): string {
  const target = safeNextPath(next, '')
  return target ? `/auth/signin?next=${encodeURIComponent(target)}` : '/auth/signin'
}

/** signUpPath is the sign-up page that returns to next afterwards. */
export function signUpPath(next: string): string {
  const target = safeNextPath(next, '')
  return target ? `/auth/signup?next=${encodeURIComponent(target)}` : '/auth/signup'
}

/** pageNumber reads ?page=N (1-based); anything odd is page 1. */
export function pageNumber(raw: string | string[] | undefined): number {
  const value = Array.isArray(raw) ? raw[0] : raw
  if (!value || !/^\d{1,6}$/.test(value)) return 1
  const n = Number(value)
  return n >= 1 ? n : 1
}
