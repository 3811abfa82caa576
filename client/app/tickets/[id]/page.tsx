import type { Metadata } from 'next'
import Link from 'next/link'
import { notFound } from 'next/navigation'

import PageAlert from '@/components/PageAlert'
import PurchaseButton from '@/components/PurchaseButton'
import { TicketBadge } from '@/components/StatusBadge'
import { formatPrice } from '@/lib/money'
import type { SearchParams } from '@/lib/query'
import { currentUser, getTicket, ServiceUnavailableError } from '@/lib/server-api'
import { ticketState } from '@/lib/tickets'

type Props = {
  params: Promise<{ id: string }>
  searchParams: Promise<SearchParams>
}

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const res = await getTicket((await params).id)
  return { title: res.ok ? res.data.title : 'Ticket' }
}

export default async function TicketPage({ params, searchParams }: Props) {
  const { id } = await params
  const query = await searchParams
  const [res, { user }] = await Promise.all([getTicket(id), currentUser()])
  if (!res.ok) {
    if (res.status === 404 || res.status === 400) notFound()
    throw new ServiceUnavailableError(`GET /api/tickets/${id}`, res.status)
  }
  const ticket = res.data
  const state = ticketState(ticket)
  const mine = user?.id === ticket.userId

  return (
    <article className="ticket-page">
      <p>
        <Link href="/">← All tickets for sale</Link>
      </p>
      {query.listed ? <PageAlert variant="success" messages={['Your ticket is listed and buyers can see it now.']} focus={false} /> : null}
      {query.updated ? <PageAlert variant="success" messages={['Your changes are saved.']} focus={false} /> : null}
      <div className="card shadow-sm">
        <div className="card-body p-4 p-md-5">
          <div className="d-flex flex-wrap align-items-start justify-content-between gap-2 mb-2">
            <h1 className="mb-0 ticket-title">{ticket.title}</h1>
            <TicketBadge state={state} />
          </div>
          <p className="ticket-price-lg mb-4" aria-label={`Price ${formatPrice(ticket.price)}`}>
            {formatPrice(ticket.price)}
          </p>

          {mine ? (
            <div className="owner-box">
              <p className="mb-2">You listed this ticket.</p>
              {state === 'for-sale' ? (
                <Link className="btn btn-outline-primary" href={`/tickets/${encodeURIComponent(ticket.id)}/edit`}>
                  Edit title or price
                </Link>
              ) : state === 'reserved' ? (
                <p className="text-body-secondary mb-0">A buyer is paying for it right now, so it cannot be changed.</p>
              ) : (
                <p className="text-body-secondary mb-0">It has been sold.</p>
              )}
            </div>
          ) : state === 'for-sale' ? (
            <PurchaseButton ticketId={ticket.id} price={ticket.price} />
          ) : state === 'reserved' ? (
            <div className="alert alert-warning mb-0" role="status">
              <p className="fw-semibold mb-1">This ticket is reserved by another buyer.</p>
              <p className="mb-0">
                They are paying for it now. If they do not pay within their reservation window, it goes back on sale —
                check back in a few minutes.
              </p>
            </div>
          ) : (
            <div className="alert alert-secondary mb-0" role="status">
              <p className="fw-semibold mb-0">This ticket has been sold.</p>
            </div>
          )}
        </div>
      </div>
    </article>
  )
}
