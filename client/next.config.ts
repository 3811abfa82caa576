import type { NextConfig } from 'next'

import { staticSecurityHeaders } from './lib/security-headers'

const nextConfig: NextConfig = {
  // The client is served behind the gateway or the ingress; no header that
  // advertises the framework, and no image optimiser (there are no images to
  // optimise, and it would fetch remote URLs).
  poweredByHeader: false,
  images: { unoptimized: true },
  reactStrictMode: true,
  // next dev answers 403 to /_next requests (hot reload, dev assets) from an
  // origin it does not know; in skaffold dev the browser is on ticketing.dev,
  // behind the ingress. Only next dev reads this.
  allowedDevOrigins: ['ticketing.dev'],
  // Assets as well as pages; proxy.ts adds each page's nonce-based policy.
  async headers() {
    return [{ source: '/:path*', headers: Object.entries(staticSecurityHeaders).map(([key, value]) => ({ key, value })) }]
  },
}

export default nextConfig
