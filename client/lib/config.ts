// Server-side configuration, read from the environment at request time so the
// same build runs locally, in CI and in Kubernetes (DESIGN.md §7 names).

export interface ServerConfig {
  /** Where server-side rendering reaches the API: the gateway locally, the ingress in-cluster. */
  apiBaseUrl: URL
  /** Host header for those calls, when the ingress routes by host (ticketing.dev). */
  apiHostHeader?: string
  /** Stripe publishable key; without it the order page offers the test-card path. */
  stripePublishableKey?: string
}

export class ConfigError extends Error {}

export function readConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  const raw = env.API_BASE_URL?.trim()
  if (!raw) throw new ConfigError('API_BASE_URL is required (e.g. http://127.0.0.1:8080)')
  let apiBaseUrl: URL
  try {
    apiBaseUrl = new URL(raw)
  } catch {
    throw new ConfigError(`API_BASE_URL is not a URL: ${raw}`)
  }
  if (apiBaseUrl.protocol !== 'http:' && apiBaseUrl.protocol !== 'https:') {
    throw new ConfigError(`API_BASE_URL must be http or https: ${raw}`)
  }
  const host = env.API_HOST_HEADER?.trim()
  const key = env.STRIPE_PUBLISHABLE_KEY?.trim()
  return {
    apiBaseUrl,
    apiHostHeader: host || undefined,
    stripePublishableKey: key || undefined,
  }
}
