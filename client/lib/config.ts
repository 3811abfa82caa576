// Server-side configuration, read from the environment at request time so the
// same build runs locally, in CI and in Kubernetes (DESIGN.md §7 names).

/**
 * The service behind each API prefix, as the gateway and the ingress route
 * them (DESIGN.md §2). An API_BASE_URL with {service} in it reaches each
 * service directly under this name: in Kubernetes, its Service.
 */
export const API_SERVICES: Readonly<Record<string, string>> = {
  '/api/users': 'auth',
  '/api/tickets': 'tickets',
  '/api/orders': 'orders',
  '/api/payments': 'payments',
}

const SERVICE = '{service}'

export interface ServerConfig {
  /**
   * Where server-side rendering reaches the API: one address that routes by
   * path (the local gateway, http://127.0.0.1:8080), or a template with
   * {service} in its host (http://{service}:3000 in Kubernetes).
   */
  apiBaseUrl: string
  /** Stripe publishable key; without it the order page offers the test-card path. */
  stripePublishableKey?: string
}

export class ConfigError extends Error {}

export function readConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  const raw = env.API_BASE_URL?.trim()
  if (!raw) throw new ConfigError('API_BASE_URL is required (e.g. http://127.0.0.1:8080)')
  const marker = 'service-name'
  let parsed: URL
  try {
    parsed = new URL(raw.replaceAll(SERVICE, marker))
  } catch {
    throw new ConfigError(`API_BASE_URL is not a URL: ${raw}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`API_BASE_URL must be http or https: ${raw}`)
  }
  if (raw.includes(SERVICE) && (!parsed.hostname.includes(marker) || parsed.href.split(parsed.host)[1].includes(marker))) {
    throw new ConfigError(`API_BASE_URL may use ${SERVICE} in its host only: ${raw}`)
  }
  const key = env.STRIPE_PUBLISHABLE_KEY?.trim()
  return { apiBaseUrl: raw, stripePublishableKey: key || undefined }
}

/**
 * apiUrl is where a server-side request for path goes. With a {service}
 * template, a path outside the API's prefixes is refused rather than sent
 * somewhere by guess.
 */
export function apiUrl(config: ServerConfig, path: string): URL {
  if (!config.apiBaseUrl.includes(SERVICE)) return new URL(path, config.apiBaseUrl)
  const prefix = Object.keys(API_SERVICES).find((p) => path === p || path.startsWith(p + '/') || path.startsWith(p + '?'))
  if (!prefix) throw new ConfigError(`no API service serves ${path}`)
  return new URL(path, config.apiBaseUrl.replaceAll(SERVICE, API_SERVICES[prefix]))
}
