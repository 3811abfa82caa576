import { readErrorBody } from './errors'
import type { ApiResult } from './types'

// The browser calls the API on its own origin (/api/...): the gateway or the
// ingress routes it, and the session cookie travels with it.

export async function send<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<ApiResult<T>> {
  let res: Response
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    return { ok: false, status: 0, errors: readErrorBody(0, null) }
  }
  let parsed: unknown = null
  const text = await res.text().catch(() => '')
  if (text) {
    try {
      parsed = JSON.parse(text)
    } catch {
      // Not JSON: readErrorBody picks a message by status.
    }
  }
  if (res.ok) return { ok: true, status: res.status, data: parsed as T }
  return { ok: false, status: res.status, errors: readErrorBody(res.status, parsed) }
}
