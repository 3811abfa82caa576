import Link from 'next/link'
import { redirect } from 'next/navigation'

import EmptyState from '@/components/EmptyState'
import Pagination from '@/components/Pagination'
import { formatPrice } from '@/lib/money'
import { listPosition, type SearchParams } from '@/lib/query'
import { apiGet, currentUser, ServiceUnavailableError } from '@/lib/server-api'
import { pagePath, readPage } from '@/lib/paging'
import type { Ticket } from '@/lib/types'

export default async function HomePage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const { after, page } = listPosition(await searchParams)
  const [res, { user }] = await Promise.all([apiGet<unknown>(pagePath('/api/tickets', after)), currentUser()])
  // A stale or mangled cursor (400) starts again from the newest tickets.
  if (!res.ok && res.status === 400 && after) redirect('/')
  if (!res.ok) throw new ServiceUnavailableError('GET /api/tickets', res.status)
  const { items: tickets, next } = readPage<Ticket>(res.data, 'tickets')

  return (
    <>
      <div className="page-intro d-flex flex-column flex-sm-row justify-content-between align-items-sm-end gap-3 mb-4">
        <div>
          <h1 className="mb-1">Tickets for sale</h1>
          <p className="lead text-body-secondary mb-0">Resold by fans who can no longer go. Reserve one and pay within the window.</p>
        </div>
        <Link className="btn btn-primary" href="/tickets/new">
          Sell a ticket
        </Link>
      </div>

      {tickets.length === 0 ? (
        after ? (
          <EmptyState title="No more tickets here" icon="inbox">
            <p>
              Everything on this page has been sold or reserved. <Link href="/">Back to the first page</Link>
            </p>
          </EmptyState>
        ) : (
          <EmptyState title="Nothing for sale right now" icon="ticket">
            <p className="mb-3">Tickets appear here as soon as someone lists one.</p>
            <Link className="btn btn-outline-primary" href={user ? '/tickets/new' : '/auth/signup?next=%2Ftickets%2Fnew'}>
              List the first ticket
            </Link>
          </EmptyState>
        )
      ) : (
        <ul className="row g-3 list-unstyled ticket-grid" aria-label="Tickets for sale">
          {tickets.map((t) => (
            <li key={t.id} className="col-12 col-sm-6 col-lg-4">
              <article className="card ticket-card h-100">
                <div className="card-body d-flex flex-column">
                  <h2 className="h5 card-title">
                    <Link className="stretched-link text-decoration-none" href={`/tickets/${encodeURIComponent(t.id)}`}>
                      {t.title}
                    </Link>
                  </h2>
                  <p className="ticket-price mt-auto mb-0">{formatPrice(t.price)}</p>
                  {user && t.userId === user.id ? <p className="small text-body-secondary mb-0">Your listing</p> : null}
                </div>
              </article>
            </li>
          ))}
        </ul>
      )}
      <Pagination page={page} next={next} basePath="/" />
    </>
  )
}
