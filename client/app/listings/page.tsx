import type { Metadata } from 'next'
import Link from 'next/link'

import EmptyState from '@/components/EmptyState'
import { TicketBadge } from '@/components/StatusBadge'
import { formatPrice } from '@/lib/money'
import Pagination from '@/components/Pagination'
import { listPosition, type SearchParams } from '@/lib/query'
import { load, requireUser } from '@/lib/server-api'
import { pagePath, readPage } from '@/lib/paging'
import { ticketState } from '@/lib/tickets'
import type { Ticket } from '@/lib/types'

export const metadata: Metadata = { title: 'My listings' }

export default async function ListingsPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const { after, page } = listPosition(await searchParams)
  await requireUser('/listings')
  const res = await load<unknown>(pagePath('/api/tickets/mine', after), '/listings')
  const { items: tickets, next } = res.ok ? readPage<Ticket>(res.data, 'tickets') : { items: [], next: null }

  return (
    <>
      <div className="d-flex flex-column flex-sm-row justify-content-between align-items-sm-end gap-3 mb-4">
        <div>
          <h1 className="mb-1">My listings</h1>
          <p className="text-body-secondary mb-0">Tickets you are selling, and what became of them.</p>
        </div>
        <Link className="btn btn-primary" href="/tickets/new">
          Sell a ticket
        </Link>
      </div>
      {tickets.length === 0 ? (
        <EmptyState title="You have not listed any tickets" icon="tag">
          <p className="mb-3">Can&apos;t make it to a show? List your ticket and a fan can buy it.</p>
          <Link className="btn btn-outline-primary" href="/tickets/new">
            Sell a ticket
          </Link>
        </EmptyState>
      ) : (
        <ul className="list-group shadow-sm" aria-label="My listings">
          {tickets.map((t) => {
            const state = ticketState(t)
            return (
              <li key={t.id} className="list-group-item listing-row" data-testid="listing" data-state={state}>
                <div className="d-flex flex-wrap align-items-center gap-2 gap-md-3">
                  <div className="flex-grow-1 min-w-0">
                    <Link className="fw-semibold text-break" href={`/tickets/${encodeURIComponent(t.id)}`}>
                      {t.title}
                    </Link>
                    <div className="text-body-secondary small">{formatPrice(t.price)}</div>
                  </div>
                  <TicketBadge state={state} />
                  {state === 'for-sale' ? (
                    <Link className="btn btn-sm btn-outline-primary" href={`/tickets/${encodeURIComponent(t.id)}/edit`} aria-label={`Edit ${t.title}`}>
                      Edit
                    </Link>
                  ) : null}
                </div>
              </li>
            )
          })}
        </ul>
      )}
      <Pagination page={page} next={next} basePath="/listings" />
    </>
  )
}
