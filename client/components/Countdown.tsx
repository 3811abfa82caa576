'use client'

import { useEffect, useRef, useState } from 'react'

import { describeCountdown, formatCountdown, milestone } from '@/lib/countdown'

// The time left to pay, ticking every second. role="timer" is not announced
// on every tick; a separate polite live region speaks only at milestones
// (5 minutes, 1 minute, 30 seconds, time up).
export default function Countdown({ msLeft }: { msLeft: number }) {
  const previous = useRef(msLeft)
  const [announcement, setAnnouncement] = useState('')

  useEffect(() => {
    const said = milestone(previous.current, msLeft)
    previous.current = msLeft
    if (said) setAnnouncement(said)
  }, [msLeft])

  const urgent = msLeft <= 60_000
  return (
    <div className={`countdown ${urgent ? 'countdown-urgent' : ''}`}>
      <p className="countdown-label mb-1" id="countdown-label">
        Time left to pay
      </p>
      <p className="countdown-value mb-0" role="timer" aria-labelledby="countdown-label" aria-describedby="countdown-words" data-testid="countdown">
        {formatCountdown(msLeft)}
      </p>
      <span id="countdown-words" className="visually-hidden">
        {describeCountdown(msLeft)}
      </span>
      <div className="visually-hidden" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
    </div>
  )
}
