'use client'

import dynamic from 'next/dynamic'
import Link from 'next/link'
import { useRouter } from 'next/navigation'
import { useCallback, useEffect, useState } from 'react'

import { send } from '@/lib/browser-api'
import { msUntil } from '@/lib/countdown'
import { formatPrice } from '@/lib/money'
import { orderPhase } from '@/lib/orders'
import { nextPaymentStep, type Authenticate, type PaymentMethodChoice } from '@/lib/payments'
import { signInPath } from '@/lib/paths'
import type { Order } from '@/lib/types'

import Countdown from './Countdown'
import PageAlert from './PageAlert'
import { OrderBadge } from './StatusBadge'
import SubmitButton from './SubmitButton'
import TestCardPayment from './TestCardPayment'

// Stripe's code is only fetched when a publishable key is configured.
const StripeCardPayment = dynamic(() => import('./StripeCardPayment'), {
  ssr: false,
  loading: () => (
    <p className="text-body-secondary" role="status">
      <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
      Loading the secure card form…
    </p>
  ),
})

const POLL_EVERY_MS = 1000
const POLL_FOR_MS = 60_000

/**
 * OrderView is the order page's live part: the countdown to expiresAt, the
 * payment, and what happens after. Completion is asynchronous (payments ->
 * orders via events), so after a successful charge the page polls the order
 * until it reports complete; likewise after the window closes, until the
 * expiration service has cancelled it.
 */
export default function OrderView({
  initialOrder,
  renderedAt,
  publishableKey,
}: {
  initialOrder: Order
  renderedAt: number
  publishableKey: string | null
}) {
  const router = useRouter()
  const [order, setOrder] = useState(initialOrder)
  // The first render uses the server's clock so the markup matches; the
  // first tick switches to the browser's.
  const [now, setNow] = useState(renderedAt)
  const [paying, setPaying] = useState(false)
  const [paid, setPaid] = useState(false)
  const [pollGaveUp, setPollGaveUp] = useState(false)
  const [cancelling, setCancelling] = useState(false)
  const [problem, setProblem] = useState<{ card?: string; general: string[] }>({ general: [] })

  const phase = orderPhase(order, now)
  const path = `/orders/${order.id}`
  const msLeft = msUntil(order.expiresAt, now)
  const awaitingServer = order.status === 'created' && (paid || phase === 'expired')

  useEffect(() => {
    if (phase !== 'awaiting-payment' && !awaitingServer) return
    setNow(Date.now())
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [phase, awaitingServer])

  const refetch = useCallback(async () => {
    const res = await send<Order>('GET', `/api/orders/${encodeURIComponent(order.id)}`)
    if (res.ok) setOrder(res.data)
    else if (res.status === 401) router.push(signInPath(path))
    return res.ok
  }, [order.id, path, router])

  useEffect(() => {
    if (!awaitingServer) return
    setPollGaveUp(false)
    const started = Date.now()
    const timer = setInterval(() => {
      if (Date.now() - started > POLL_FOR_MS) {
        clearInterval(timer)
        setPollGaveUp(true)
        return
      }
      void refetch()
    }, POLL_EVERY_MS)
    return () => clearInterval(timer)
  }, [awaitingServer, refetch])

  // pay sends the card (a token, or a Stripe.js PaymentMethod). A 201 or a
  // 202 means "wait for Stripe's word": the page shows "confirming…" and
  // polls the order; a 202 requires_action first runs 3-D Secure in Stripe.js.
  async function pay(method: PaymentMethodChoice, authenticate?: Authenticate) {
    setPaying(true)
    setProblem({ general: [] })
    const res = await send<unknown>('POST', '/api/payments', { orderId: order.id, ...method })
    if (res.ok) {
      const step = nextPaymentStep(res.status, res.data)
      if (step.kind === 'authenticate' && authenticate) {
        const failed = await authenticate(step.clientSecret)
        if (failed) {
          setPaying(false)
          setProblem({ card: failed, general: [] })
          return
        }
      }
      setPaying(false)
      setPaid(true)
      return
    }
    setPaying(false)
    if (res.status === 401) {
      router.push(signInPath(path))
      return
    }
    if (res.status === 402) {
      setProblem({ card: res.errors[0]?.message ?? 'Your card was declined.', general: [] })
      return
    }
    if (res.status === 409) {
      // Expired, cancelled, already paid or a payment in progress: the API's
      // message says which, and the refetched order shows where things stand.
      await refetch()
      setProblem({ general: res.errors.map((e) => e.message) })
      return
    }
    setProblem({ general: res.errors.map((e) => e.message) })
  }

  async function cancel() {
    setCancelling(true)
    setProblem({ general: [] })
    const res = await send('DELETE', `/api/orders/${encodeURIComponent(order.id)}`)
    if (res.ok) {
      await refetch()
    } else if (res.status === 401) {
      router.push(signInPath(path))
    } else {
      setProblem({ general: res.errors.map((e) => e.message) })
      await refetch()
    }
    setCancelling(false)
  }

  const ticketLink = `/tickets/${encodeURIComponent(order.ticket.id)}`

  return (
    <div className="row g-4">
      <div className="col-md-6">
        <dl className="order-facts">
          <dt>Ticket</dt>
          <dd>
            <Link href={ticketLink}>{order.ticket.title}</Link>
          </dd>
          <dt>Amount</dt>
          <dd className="order-amount" data-testid="order-amount">
            {formatPrice(order.ticket.price)}
          </dd>
          <dt>Status</dt>
          <dd data-testid="order-status">
            {paid && order.status === 'created' ? (
              <span className="badge rounded-pill text-bg-info">Confirming payment</span>
            ) : (
              <OrderBadge phase={phase} />
            )}
          </dd>
          <dt>Order reference</dt>
          <dd>
            <code>{order.id}</code>
          </dd>
        </dl>
      </div>

      <div className="col-md-6">
        <div className="order-panel">
          <PageAlert messages={problem.general} />
          {phase === 'complete' ? (
            <div className="alert alert-success" role="status" data-testid="order-complete">
              <p className="h5 mb-1">Paid — the ticket is yours.</p>
              <p className="mb-0">
                You paid {formatPrice(order.ticket.price)} for {order.ticket.title}.
              </p>
            </div>
          ) : paid && order.status === 'created' ? (
            <div className="alert alert-info" role="status">
              {pollGaveUp ? (
                <p className="mb-0">
                  Your payment was received. Confirming the order is taking longer than usual; reload this page in a
                  moment.
                </p>
              ) : (
                <p className="mb-0">
                  <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
                  Payment received — confirming your order…
                </p>
              )}
            </div>
          ) : phase === 'expired' ? (
            <div className="alert alert-secondary" role="status" data-testid="order-expired">
              <p className="h5 mb-1">This order expired.</p>
              <p className="mb-2">
                {paid
                  ? 'The reservation window closed before your payment was confirmed, so the payment is refunded in full.'
                  : 'The reservation window closed before payment, so the ticket went back on sale. Nothing was charged.'}
              </p>
              <Link href={ticketLink} className="alert-link">
                See if the ticket is still available
              </Link>
            </div>
          ) : phase === 'cancelled' ? (
            <div className="alert alert-secondary" role="status" data-testid="order-cancelled">
              <p className="h5 mb-1">This order was cancelled.</p>
              <p className="mb-2">The ticket went back on sale. Nothing was charged.</p>
              <Link href={ticketLink} className="alert-link">
                Back to the ticket
              </Link>
            </div>
          ) : (
            <>
              <Countdown msLeft={msLeft} />
              <div className="my-3">
                {publishableKey ? (
                  <StripeCardPayment publishableKey={publishableKey} amount={order.ticket.price} busy={paying} cardError={problem.card} onPay={pay} />
                ) : (
                  <>
                    <TestCardPayment amount={order.ticket.price} busy={paying} onPay={pay} />
                    {problem.card ? <PageAlert messages={[problem.card]} title="The card was declined." /> : null}
                  </>
                )}
              </div>
              <SubmitButton type="button" busy={cancelling} busyLabel="Cancelling…" className="btn btn-link text-danger px-0" onClick={cancel} disabled={paying}>
                Cancel this order and release the ticket
              </SubmitButton>
            </>
          )}
        </div>
      </div>
    </div>
  )
}
