// Lists page newest first with an opaque cursor: `?limit=&after=`, where after
// is the `next` the previous page returned (null on the last page). Tickets
// (GET /api/tickets, /api/tickets/mine) and orders (GET /api/orders) page the
// same way; see tickets/README.md and orders/README.md.
export const PAGE_SIZE = 12

export interface Page<T> {
  items: T[]
  next: string | null
}

export function pagePath(base: string, after?: string, limit = PAGE_SIZE): string {
  const query = new URLSearchParams({ limit: String(limit) })
  if (after) query.set('after', after)
  return `${base}?${query}`
}

/** readPage reads one page's list under key, tolerating a malformed envelope. */
export function readPage<T>(body: unknown, key: string): Page<T> {
  const env = (body ?? {}) as Record<string, unknown>
  const list = env[key]
  const next = typeof env.next === 'string' && env.next !== '' ? env.next : null
  return { items: Array.isArray(list) ? (list as T[]) : [], next }
}
