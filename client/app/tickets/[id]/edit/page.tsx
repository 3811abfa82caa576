import type { Metadata } from 'next'
import Link from 'next/link'
import { notFound } from 'next/navigation'

import { TicketBadge } from '@/components/StatusBadge'
import TicketForm from '@/components/TicketForm'
import { getTicket, requireUser, ServiceUnavailableError } from '@/lib/server-api'
import { ticketState } from '@/lib/tickets'

export const metadata: Metadata = { title: 'Edit listing' }

export default async function EditTicketPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params
  const user = await requireUser(`/tickets/${id}/edit`)
  const res = await getTicket(id)
  if (!res.ok) {
    if (res.status === 404 || res.status === 400) notFound()
    throw new ServiceUnavailableError(`GET /api/tickets/${id}`, res.status)
  }
  const ticket = res.data
  const state = ticketState(ticket)
  const back = (
    <p>
      <Link href="/listings">← My listings</Link>
    </p>
  )

  if (ticket.userId !== user.id) {
    return (
      <div className="narrow">
        {back}
        <h1>Edit listing</h1>
        <div className="alert alert-danger" role="alert">
          This ticket belongs to another seller, so you cannot change it.
        </div>
      </div>
    )
  }

  return (
    <div className="narrow">
      {back}
      <div className="d-flex align-items-center gap-2 mb-3">
        <h1 className="mb-0">Edit listing</h1>
        <TicketBadge state={state} />
      </div>
      {state === 'for-sale' ? (
        <div className="card shadow-sm">
          <div className="card-body p-4">
            <TicketForm ticket={ticket} />
          </div>
        </div>
      ) : (
        <div className="alert alert-warning" role="alert">
          {state === 'reserved'
            ? 'A buyer is paying for this ticket right now, so it cannot be changed. If they do not pay in time it goes back on sale and you can edit it again.'
            : 'This ticket has been sold, so it cannot be changed.'}
        </div>
      )}
    </div>
  )
}
