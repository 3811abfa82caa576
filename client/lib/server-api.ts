import 'server-only'

import http from 'node:http'
import https from 'node:https'
import { cache } from 'react'
import { headers } from 'next/headers'
import { notFound, redirect } from 'next/navigation'

import { apiUrl, readConfig } from './config'
import { readErrorBody } from './errors'
import { safeNextPath, signInPath } from './paths'
import type { SearchParams } from './query'
import type { ApiResult, Ticket, User } from './types'

// Server-side rendering calls the API with the visitor's own cookie, so the
// page shows what that visitor may see. Requests go to API_BASE_URL: the
// gateway locally, each API's own Service in the cluster (lib/config.ts).
// node:http rather than fetch: it bounds the answer's size as it arrives.

const TIMEOUT_MS = 10_000
const MAX_BODY_BYTES = 4 << 20

export async function apiGet<T>(path: string): Promise<ApiResult<T>> {
  // headers() first: it marks the page as rendered per request, so a build
  // never tries to prerender it (and never needs API_BASE_URL).
  const incoming = await headers()
  const config = readConfig()
  const url = apiUrl(config, path)
  const requestHeaders: Record<string, string> = { accept: 'application/json' }
  const cookie = incoming.get('cookie')
  if (cookie) requestHeaders.cookie = cookie

  let status: number
  let text: string
  try {
    ;({ status, text } = await get(url, requestHeaders))
  } catch (err) {
    console.error(`GET ${url.pathname}: ${(err as Error).message}`)
    return { ok: false, status: 0, errors: readErrorBody(0, null) }
  }
  let body: unknown = null
  try {
    body = text ? JSON.parse(text) : null
  } catch {
    // Not JSON: a proxy's error page. readErrorBody picks a message by status.
  }
  if (status >= 200 && status < 300) return { ok: true, status, data: body as T }
  return { ok: false, status, errors: readErrorBody(status, body) }
}

function get(url: URL, requestHeaders: Record<string, string>): Promise<{ status: number; text: string }> {
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers: requestHeaders, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_BODY_BYTES) {
          req.destroy(new Error('response too large'))
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)))
    req.on('error', reject)
  })
}

/** The API could not answer; the nearest error.tsx shows a retry. */
export class ServiceUnavailableError extends Error {
  constructor(what: string, status: number) {
    super(`${what} failed with status ${status}`)
  }
}

/**
 * currentUser is who the request's cookie belongs to (null when signed out).
 * Cached per request, so the layout and the page share one call.
 */
export const currentUser = cache(async (): Promise<{ user: User | null; known: boolean }> => {
  const res = await apiGet<{ currentUser: User | null }>('/api/users/currentuser')
  if (!res.ok) return { user: null, known: false }
  return { user: res.data?.currentUser ?? null, known: true }
})

/** requireUser sends a signed-out visitor to sign in and back to backTo. */
export async function requireUser(backTo: string): Promise<User> {
  const { user, known } = await currentUser()
  if (!known) throw new ServiceUnavailableError('GET /api/users/currentuser', 503)
  if (!user) redirect(signInPath(backTo))
  return user
}

/**
 * load fetches what a page cannot render without: a 401 sends the visitor to
 * sign in and back, a 404 shows the not-found page, anything else but 403
 * (which pages explain themselves) goes to the error page.
 */
export async function load<T>(path: string, backTo: string): Promise<{ ok: true; data: T } | { ok: false; forbidden: true; message: string }> {
  const res = await apiGet<T>(path)
  if (res.ok) return { ok: true, data: res.data }
  if (res.status === 401) redirect(signInPath(backTo))
  if (res.status === 404 || res.status === 400) notFound()
  if (res.status === 403) return { ok: false, forbidden: true, message: res.errors[0]?.message ?? 'Forbidden' }
  throw new ServiceUnavailableError(`GET ${path}`, res.status)
}

/** getTicket is one ticket, fetched once per request however many parts ask. */
export const getTicket = cache(async (id: string) => apiGet<Ticket>(`/api/tickets/${encodeURIComponent(id)}`))

/**
 * returnPath is where the sign-in and sign-up pages send a visitor back to; a
 * visitor who is signed in already goes there at once.
 */
export async function returnPath(query: Promise<SearchParams>): Promise<string> {
  const next = safeNextPath((await query).next)
  const { user } = await currentUser()
  if (user) redirect(next)
  return next
}
