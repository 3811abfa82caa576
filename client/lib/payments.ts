// What POST /api/payments answers (DESIGN.md §2): 201 the order is paid;
// 202 a PaymentIntent the buyer acts on — 3-D Secure (requires_action) —
// or that Stripe settles by webhook. Either way the order completes only
// once payments heard it from Stripe, so the page then shows "confirming…"
// and polls the order.

export interface PaymentIntentAnswer {
  id: string
  status: string
  clientSecret?: string
}

/** What the order page does after a successful (2xx) payment request. */
export type PaymentStep = { kind: 'confirming' } | { kind: 'authenticate'; clientSecret: string }

export function nextPaymentStep(status: number, body: unknown): PaymentStep {
  if (status === 202 && body && typeof body === 'object') {
    const intent = body as PaymentIntentAnswer
    if (intent.status === 'requires_action' && typeof intent.clientSecret === 'string' && intent.clientSecret) {
      return { kind: 'authenticate', clientSecret: intent.clientSecret }
    }
  }
  return { kind: 'confirming' }
}

/** How the buyer pays: a card token (the test-card path) or a Stripe PaymentMethod. */
export type PaymentMethodChoice = { token: string } | { paymentMethod: string }

/** Runs the buyer's 3-D Secure challenge; answers an error message, or nothing when passed. */
export type Authenticate = (clientSecret: string) => Promise<string | undefined>
