'use client'

import { formatPrice } from '@/lib/money'

import SubmitButton from './SubmitButton'

// The token the Stripe stand-in (and Stripe in test mode) accepts as a good Visa card.
export const TEST_CARD_TOKEN = 'tok_visa'

// With no Stripe publishable key configured, the system is talking to a test
// Stripe (the Stripe stand-in locally). This path says so plainly and pays with
// Stripe's test card token, so the whole purchase works offline.
export default function TestCardPayment({ amount, busy, onPay }: { amount: number; busy: boolean; onPay: (method: { token: string }) => void }) {
  return (
    <section className="test-mode card border-warning" aria-labelledby="test-mode-title">
      <div className="card-body">
        <h3 id="test-mode-title" className="h6 mb-2">
          <span className="badge text-bg-warning me-2">Test mode</span>
          Pay with test card
        </h3>
        <p className="small mb-3">
          No Stripe key is configured, so payments go to a test Stripe server. Paying uses Stripe&apos;s test Visa card
          (4242 4242 4242 4242); no real money moves.
        </p>
        <SubmitButton type="button" busy={busy} busyLabel="Paying…" className="btn btn-success btn-lg w-100" onClick={() => onPay({ token: TEST_CARD_TOKEN })}>
          Pay {formatPrice(amount)} with test card
        </SubmitButton>
      </div>
    </section>
  )
}
