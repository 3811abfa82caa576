import type { Order } from './types'

// What the order page shows depends on the status the API reports and on the
// clock: a "created" order whose expiresAt has passed is already lost to the
// buyer, even if the expiration service has not cancelled it yet.
export type OrderPhase = 'awaiting-payment' | 'expired' | 'cancelled' | 'complete'

/**
 * orderPhase decides between those. An order carries no cancellation reason,
 * so a cancelled order is "expired" once its window has passed and
 * "cancelled" (by the buyer) before that.
 */
export function orderPhase(order: Pick<Order, 'status' | 'expiresAt'>, now: number): OrderPhase {
  const expired = Date.parse(order.expiresAt) <= now
  switch (order.status) {
    case 'complete':
      return 'complete'
    case 'cancelled':
      return expired ? 'expired' : 'cancelled'
    default:
      return expired ? 'expired' : 'awaiting-payment'
  }
}

export const phaseLabel: Record<OrderPhase, string> = {
  'awaiting-payment': 'Awaiting payment',
  expired: 'Expired',
  cancelled: 'Cancelled',
  complete: 'Paid',
}
