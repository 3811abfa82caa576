'use client'

import { useEffect } from 'react'

import { send } from '@/lib/browser-api'

// Signing out from a link (the header uses a button). The effect runs only in
// a real visit, never in a prefetch.
export default function SignOutPage() {
  useEffect(() => {
    void send('POST', '/api/users/signout', {}).then(() => window.location.assign('/'))
  }, [])
  return (
    <p role="status" className="text-center py-5">
      <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
      Signing you out…
    </p>
  )
}
