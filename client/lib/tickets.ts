import type { Ticket } from './types'

export type TicketState = 'for-sale' | 'reserved' | 'sold'

/** ticketState reads a listing's state from the tickets API's two flags. */
export function ticketState(t: Pick<Ticket, 'reserved' | 'sold'>): TicketState {
  if (t.sold) return 'sold'
  if (t.reserved) return 'reserved'
  return 'for-sale'
}

export const stateLabel: Record<TicketState, string> = {
  'for-sale': 'For sale',
  reserved: 'Reserved',
  sold: 'Sold',
}
