'use client'

import { useEffect, useRef } from 'react'

// A page-level message. It takes focus when it appears, so keyboard and
// screen-reader users learn at once why nothing happened.
export default function PageAlert({
  messages,
  variant = 'danger',
  title,
  focus = true,
}: {
  messages: string[]
  variant?: 'danger' | 'warning' | 'info' | 'success'
  title?: string
  focus?: boolean
}) {
  const ref = useRef<HTMLDivElement>(null)
  const key = [title ?? '', ...messages].join('\n')
  useEffect(() => {
    if (focus && key) ref.current?.focus()
  }, [focus, key])
  if (messages.length === 0 && !title) return null
  return (
    <div ref={ref} className={`alert alert-${variant}`} role={variant === 'danger' || variant === 'warning' ? 'alert' : 'status'} tabIndex={-1}>
      {title ? <p className={`fw-semibold ${messages.length ? 'mb-1' : 'mb-0'}`}>{title}</p> : null}
      {messages.length === 0 ? null : messages.length === 1 ? (
        <p className="mb-0">{messages[0]}</p>
      ) : (
        <ul className="mb-0 ps-3">
          {messages.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
    </div>
  )
}
