import type { NextConfig } from 'next'

const nextConfig: NextConfig = {
  // The client is served behind the gateway or the ingress; no header that
  // advertises the framework, and no image optimiser (there are no images to
  // optimise, and it would fetch remote URLs).
  poweredByHeader: false,
  images: { unoptimized: true },
  reactStrictMode: true,
}

export default nextConfig
