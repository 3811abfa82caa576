import assert from 'node:assert/strict'
import { test } from 'node:test'

import { contentSecurityPolicy, newNonce, staticSecurityHeaders } from './security-headers'

function directives(policy: string): Map<string, string[]> {
  return new Map(policy.split(';').map((d) => {
    const [name, ...values] = d.trim().split(/\s+/)
    return [name, values]
  }))
}

test('scripts run only by this response\'s nonce, Stripe.js included', () => {
  const csp = directives(contentSecurityPolicy('abc123=='))
  const scripts = csp.get('script-src') ?? []
  assert.ok(scripts.includes("'nonce-abc123=='"))
  assert.ok(scripts.includes("'strict-dynamic'"))
  assert.ok(scripts.includes('https://js.stripe.com'))
  assert.ok(!scripts.includes("'unsafe-inline'"), 'a nonce makes inline scripts opt-in')
  assert.ok(!scripts.includes("'unsafe-eval'"), 'production needs no eval')
  assert.ok(contentSecurityPolicy('n', true).includes("'unsafe-eval'"), 'development does')
  assert.ok(csp.get('frame-src')?.includes('https://js.stripe.com'))
  assert.ok(csp.get('frame-src')?.includes('https://hooks.stripe.com'), '3-D Secure')
  assert.ok(csp.get('connect-src')?.includes('https://api.stripe.com'))
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"])
  assert.deepEqual(csp.get('object-src'), ["'none'"])
  assert.deepEqual(csp.get('form-action'), ["'self'"])
  assert.deepEqual(csp.get('base-uri'), ["'self'"])
})

test('every nonce is fresh and 128 bits', () => {
  const seen = new Set(Array.from({ length: 100 }, newNonce))
  assert.equal(seen.size, 100)
  for (const n of seen) assert.equal(Buffer.from(n, 'base64').length, 16)
})

test('the static headers name a referrer and a permissions policy', () => {
  assert.equal(staticSecurityHeaders['Referrer-Policy'], 'strict-origin-when-cross-origin')
  assert.match(staticSecurityHeaders['Permissions-Policy'], /camera=\(\)/)
  assert.equal(staticSecurityHeaders['X-Content-Type-Options'], 'nosniff')
})
