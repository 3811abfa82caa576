import { NextResponse, type NextRequest } from 'next/server'

import { contentSecurityPolicy, newNonce, staticSecurityHeaders } from '@/lib/security-headers'

// Every page gets a Content-Security-Policy with a nonce of its own. Next
// reads the nonce from the request's header while rendering and puts it on
// its scripts; the pages render per request anyway (the layout reads the
// session), so no page is served from a build-time copy without one.
export function proxy(request: NextRequest) {
  const policy = contentSecurityPolicy(newNonce(), process.env.NODE_ENV === 'development')
  const requestHeaders = new Headers(request.headers)
  requestHeaders.set('Content-Security-Policy', policy)
  const response = NextResponse.next({ request: { headers: requestHeaders } })
  response.headers.set('Content-Security-Policy', policy)
  for (const [name, value] of Object.entries(staticSecurityHeaders)) response.headers.set(name, value)
  return response
}

export const config = {
  matcher: [
    {
      // Built assets carry the static headers from next.config.ts; they
      // run no script of their own and need no policy.
      source: '/((?!_next/static|_next/image|icon.svg).*)',
    },
  ],
}
