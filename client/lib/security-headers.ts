// The headers every page of the client carries (DESIGN.md §9). Pure, so the
// unit tests read exactly what proxy.ts sends.

// Stripe.js and the frames it opens (Elements, 3-D Secure) live on these
// origins; the card details travel from Stripe's frames to its API, never
// through this site.
const stripeScripts = ['https://js.stripe.com', 'https://*.js.stripe.com']
const stripeFrames = ['https://js.stripe.com', 'https://*.js.stripe.com', 'https://hooks.stripe.com']
const stripeAPI = ['https://api.stripe.com']

// contentSecurityPolicy lets run only the scripts this response names by its
// nonce and what they load ('strict-dynamic': Next's chunks, Stripe.js
// loaded by loadStripe). 'self' and Stripe's hosts are for browsers without
// 'strict-dynamic', which ignore it. Inline style attributes (React's
// style={{}}, Stripe's) are allowed: a style cannot run code, and a nonce
// cannot be put on an attribute. development adds 'unsafe-eval', which React
// needs only in development to rebuild server error stacks.
export function contentSecurityPolicy(nonce: string, development = false): string {
  const directives: [string, ...string[]][] = [
    ['default-src', "'self'"],
    ['script-src', "'self'", `'nonce-${nonce}'`, "'strict-dynamic'", ...stripeScripts, ...(development ? ["'unsafe-eval'"] : [])],
    ['style-src', "'self'", "'unsafe-inline'"],
    ['img-src', "'self'", 'data:', 'blob:', 'https://*.stripe.com'],
    ['font-src', "'self'"],
    ['connect-src', "'self'", ...stripeAPI],
    ['frame-src', ...stripeFrames],
    ['object-src', "'none'"],
    ['base-uri', "'self'"],
    ['form-action', "'self'"],
    ['frame-ancestors', "'none'"],
  ]
  return directives.map((d) => d.join(' ')).join('; ')
}

// staticSecurityHeaders are the same on every response, assets included.
export const staticSecurityHeaders: Record<string, string> = {
  // An order's id is in its URL: other sites learn only that a visitor came
  // from this one.
  'Referrer-Policy': 'strict-origin-when-cross-origin',
  // Nothing here needs a camera, a microphone or a location; payment is for
  // Stripe's frames (wallets) and this site only.
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), usb=(), browsing-topics=(), payment=(self "https://js.stripe.com")',
  'X-Content-Type-Options': 'nosniff',
  // frame-ancestors 'none' says it to current browsers; this, to old ones.
  'X-Frame-Options': 'DENY',
}

// newNonce is 128 random bits, base64: unguessable, fresh per response.
export function newNonce(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return btoa(String.fromCharCode(...bytes))
}
