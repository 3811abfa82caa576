'use client'

import { useEffect, useRef } from 'react'

import Icon from '@/components/Icon'

// Anything a page could not load (the API down or answering 5xx). The detail
// stays in the server log; the visitor gets a plain message and a retry.
export default function ErrorPage({ retry }: { error: unknown; retry: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [])
  return (
    <div className="text-center py-5" role="alert">
      <Icon name="alert" size={48} className="empty-icon mb-3" />
      <h1 className="h3" ref={heading} tabIndex={-1}>
        This page could not be loaded
      </h1>
      <p className="text-body-secondary">The ticketing service did not answer. It is usually back within moments.</p>
      <button type="button" className="btn btn-primary" onClick={() => retry()}>
        Try again
      </button>
    </div>
  )
}
