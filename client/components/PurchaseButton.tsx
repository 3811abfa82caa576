'use client'

import { useRouter } from 'next/navigation'
import { useState } from 'react'

import { send } from '@/lib/browser-api'
import { formatPrice } from '@/lib/money'
import { signInPath } from '@/lib/paths'
import type { Order } from '@/lib/types'

import PageAlert from './PageAlert'
import SubmitButton from './SubmitButton'

// Purchase reserves the ticket (POST /api/orders) and opens the order page,
// where the buyer pays before the reservation window closes.
export default function PurchaseButton({ ticketId, price }: { ticketId: string; price: number }) {
  const router = useRouter()
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<{ title: string; messages: string[]; reserved?: boolean } | null>(null)

  async function purchase() {
    setBusy(true)
    setProblem(null)
    const res = await send<Order>('POST', '/api/orders', { ticketId })
    if (res.ok) {
      router.push(`/orders/${encodeURIComponent(res.data.id)}`)
      return
    }
    setBusy(false)
    if (res.status === 401) {
      router.push(signInPath(`/tickets/${ticketId}`))
      return
    }
    if (res.status === 409) {
      setProblem({
        title: 'This ticket is already reserved by another buyer.',
        messages: [
          'Someone started buying it moments ago (or has bought it). If they do not pay within their reservation window, it goes back on sale and you can try again.',
        ],
        reserved: true,
      })
      return
    }
    if (res.status === 404) {
      setProblem({ title: 'This ticket is no longer listed.', messages: [] })
      return
    }
    setProblem({ title: 'The purchase did not go through.', messages: res.errors.map((e) => e.message) })
  }

  if (problem?.reserved) {
    return (
      <div>
        <PageAlert variant="warning" title={problem.title} messages={problem.messages} />
        <button
          type="button"
          className="btn btn-outline-primary"
          onClick={() => {
            setProblem(null)
            router.refresh()
          }}
        >
          Check again
        </button>
      </div>
    )
  }

  return (
    <div>
      {problem ? <PageAlert variant="warning" title={problem.title} messages={problem.messages} /> : null}
      <SubmitButton type="button" busy={busy} busyLabel="Reserving…" className="btn btn-primary btn-lg w-100 w-sm-auto" onClick={purchase}>
        Purchase for {formatPrice(price)}
      </SubmitButton>
      <p className="form-text mt-2 mb-0">The ticket is held for you while you pay.</p>
    </div>
  )
}
