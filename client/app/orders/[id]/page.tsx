import type { Metadata } from 'next'
import Link from 'next/link'

import OrderView from '@/components/OrderView'
import { readConfig } from '@/lib/config'
import { load, requireUser } from '@/lib/server-api'
import type { Order } from '@/lib/types'

export const metadata: Metadata = { title: 'Order' }

export default async function OrderPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params
  const path = `/orders/${id}`
  await requireUser(path)
  const res = await load<Order>(`/api/orders/${encodeURIComponent(id)}`, path)
  const back = (
    <p>
      <Link href="/orders">← My orders</Link>
    </p>
  )
  if (!res.ok) {
    return (
      <>
        {back}
        <h1>Order</h1>
        <div className="alert alert-danger" role="alert">
          This order belongs to another account.
        </div>
      </>
    )
  }
  return (
    <>
      {back}
      <h1 className="mb-4">Your order</h1>
      <OrderView initialOrder={res.data} renderedAt={Date.now()} publishableKey={readConfig().stripePublishableKey ?? null} />
    </>
  )
}
