import type { Metadata } from 'next'
import Link from 'next/link'

import EmptyState from '@/components/EmptyState'
import { OrderBadge } from '@/components/StatusBadge'
import { formatPrice } from '@/lib/money'
import { orderPhase } from '@/lib/orders'
import Pagination from '@/components/Pagination'
import { pagePath, readPage } from '@/lib/paging'
import { listPosition, type SearchParams } from '@/lib/query'
import { load, requireUser } from '@/lib/server-api'
import type { Order } from '@/lib/types'

export const metadata: Metadata = { title: 'My orders' }

export default async function OrdersPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const { after, page } = listPosition(await searchParams)
  await requireUser('/orders')
  const res = await load<unknown>(pagePath('/api/orders', after), '/orders')
  // Newest first, as the API pages them.
  const { items: orders, next } = res.ok ? readPage<Order>(res.data, 'orders') : { items: [], next: null }
  const now = Date.now()

  return (
    <>
      <h1 className="mb-1">My orders</h1>
      <p className="text-body-secondary mb-4">Tickets you reserved or bought.</p>
      {orders.length === 0 ? (
        <EmptyState title="No orders yet" icon="receipt">
          <p className="mb-3">When you purchase a ticket, its order appears here.</p>
          <Link className="btn btn-outline-primary" href="/">
            Browse tickets for sale
          </Link>
        </EmptyState>
      ) : (
        <ul className="list-group shadow-sm" aria-label="My orders">
          {orders.map((o) => {
            const phase = orderPhase(o, now)
            return (
              <li key={o.id} className="list-group-item" data-testid="order" data-phase={phase}>
                <div className="d-flex flex-wrap align-items-center gap-2 gap-md-3">
                  <div className="flex-grow-1 min-w-0">
                    <Link className="fw-semibold text-break" href={`/orders/${encodeURIComponent(o.id)}`}>
                      {o.ticket.title}
                    </Link>
                    <div className="text-body-secondary small">{formatPrice(o.ticket.price)}</div>
                  </div>
                  <OrderBadge phase={phase} />
                  {phase === 'awaiting-payment' ? (
                    <Link className="btn btn-sm btn-success" href={`/orders/${encodeURIComponent(o.id)}`} aria-label={`Pay for ${o.ticket.title}`}>
                      Pay now
                    </Link>
                  ) : null}
                </div>
              </li>
            )
          })}
        </ul>
      )}
      <Pagination page={page} next={next} basePath="/orders" />
    </>
  )
}
