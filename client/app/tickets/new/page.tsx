import type { Metadata } from 'next'

import TicketForm from '@/components/TicketForm'
import { requireUser } from '@/lib/server-api'

export const metadata: Metadata = { title: 'Sell a ticket' }

export default async function SellPage() {
  await requireUser('/tickets/new')
  return (
    <div className="narrow">
      <h1>Sell a ticket</h1>
      <p className="text-body-secondary">
        Buyers see your listing straight away. While someone is paying for it, it is held for them and cannot be
        changed.
      </p>
      <div className="card shadow-sm">
        <div className="card-body p-4">
          <TicketForm />
        </div>
      </div>
    </div>
  )
}
