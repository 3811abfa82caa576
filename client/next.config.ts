import type { NextConfig } from 'next'

import { staticSecurityHeaders } from './lib/security-headers'

const nextConfig: NextConfig = {
  // The client is served behind the gateway or the ingress; no header that
  // advertises the framework, and no image optimiser (there are no images to
  // optimise, and it would fetch remote URLs).
  poweredByHeader: false,
  images: { unoptimized: true },
  reactStrictMode: true,
  // Assets as well as pages; proxy.ts adds each page's nonce-based policy.
  async headers() {
    return [{ source: '/:path*', headers: Object.entries(staticSecurityHeaders).map(([key, value]) => ({ key, value })) }]
  },
}

export default nextConfig
