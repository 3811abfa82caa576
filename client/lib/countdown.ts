// The order page counts down to expiresAt once a second.

/** msUntil is how long from now until the instant iso, never negative. */
export function msUntil(iso: string, now: number): number {
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return 0
  return Math.max(0, at - now)
}

/**
 * formatCountdown shows what is left as m:ss, or h:mm:ss from an hour up.
 * It rounds up, so "0:00" appears only when the time is really over and the
 * first second of a 15-minute window reads "15:00".
 */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const ss = String(s).padStart(2, '0')
  if (h > 0) return `${h}:${String(m).padStart(2, '0')}:${ss}`
  return `${m}:${ss}`
}

/** describeCountdown is the same time in words, for screen readers. */
export function describeCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const parts: string[] = []
  if (h) parts.push(plural(h, 'hour'))
  if (m) parts.push(plural(m, 'minute'))
  if (s || parts.length === 0) parts.push(plural(s, 'second'))
  return parts.join(' ')
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}

/**
 * milestone names the announcement due when the countdown crosses one of the
 * moments worth telling a screen-reader user about, or null. Announcing every
 * second would drown everything else out.
 */
export function milestone(previousMs: number, ms: number): string | null {
  for (const mark of [5 * 60_000, 60_000, 30_000]) {
    if (previousMs > mark && ms <= mark) return `${describeCountdown(mark)} left to pay`
  }
  if (previousMs > 0 && ms <= 0) return 'Time is up: this order has expired'
  return null
}
