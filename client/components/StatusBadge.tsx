import { phaseLabel, type OrderPhase } from '@/lib/orders'
import { stateLabel, type TicketState } from '@/lib/tickets'

const ticketClass: Record<TicketState, string> = {
  'for-sale': 'text-bg-success',
  reserved: 'text-bg-warning',
  sold: 'text-bg-secondary',
}

export function TicketBadge({ state }: { state: TicketState }) {
  return <span className={`badge rounded-pill ${ticketClass[state]}`}>{stateLabel[state]}</span>
}

const orderClass: Record<OrderPhase, string> = {
  'awaiting-payment': 'text-bg-warning',
  expired: 'text-bg-secondary',
  cancelled: 'text-bg-secondary',
  complete: 'text-bg-success',
}

export function OrderBadge({ phase }: { phase: OrderPhase }) {
  return <span className={`badge rounded-pill ${orderClass[phase]}`}>{phaseLabel[phase]}</span>
}
