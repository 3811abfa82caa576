'use client'

import { CardElement, Elements, useElements, useStripe } from '@stripe/react-stripe-js'
import type { Stripe } from '@stripe/stripe-js'
// The "pure" entry point loads Stripe.js only when loadStripe is called, and
// this component is itself loaded only when a publishable key is configured.
import { loadStripe } from '@stripe/stripe-js/pure'
import { useEffect, useState, type FormEvent } from 'react'

import { formatPrice } from '@/lib/money'
import type { Authenticate, PaymentMethodChoice } from '@/lib/payments'

import SubmitButton from './SubmitButton'

export interface StripeCardPaymentProps {
  publishableKey: string
  amount: number
  busy: boolean
  cardError?: string
  onPay: (method: PaymentMethodChoice, authenticate: Authenticate) => void
}

// Stripe Elements collects the card inside Stripe's own iframe and gives back
// a PaymentMethod id; the card number never touches our servers. payments
// confirms the order's PaymentIntent with it, and when the bank asks for 3-D
// Secure (202 requires_action) Stripe.js runs the challenge here.
export default function StripeCardPayment(props: StripeCardPaymentProps) {
  const [stripe, setStripe] = useState<Stripe | null>(null)
  const [failed, setFailed] = useState(false)

  useEffect(() => {
    let live = true
    loadStripe(props.publishableKey).then(
      (s) => {
        if (!live) return
        if (s) setStripe(s)
        else setFailed(true)
      },
      () => live && setFailed(true),
    )
    return () => {
      live = false
    }
  }, [props.publishableKey])

  if (failed) {
    return (
      <div className="alert alert-danger" role="alert" data-testid="stripe-unavailable">
        The secure card form could not be loaded from Stripe. Check your connection and reload the page; your
        reservation is kept until the countdown ends.
      </div>
    )
  }
  if (!stripe) {
    return (
      <p className="text-body-secondary" role="status">
        <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
        Loading the secure card form…
      </p>
    )
  }
  return (
    <Elements stripe={stripe}>
      <CardForm {...props} />
    </Elements>
  )
}

function CardForm({ amount, busy, cardError, onPay }: StripeCardPaymentProps) {
  const stripe = useStripe()
  const elements = useElements()
  const [tokenError, setTokenError] = useState<string>()
  const [tokenising, setTokenising] = useState(false)
  const error = tokenError ?? cardError

  async function submit(e: FormEvent) {
    e.preventDefault()
    const card = elements?.getElement(CardElement)
    if (!stripe || !card) return
    setTokenising(true)
    setTokenError(undefined)
    const { paymentMethod, error: stripeError } = await stripe.createPaymentMethod({ type: 'card', card })
    setTokenising(false)
    if (stripeError || !paymentMethod) {
      setTokenError(stripeError?.message ?? 'The card could not be read. Check the details and try again.')
      return
    }
    onPay({ paymentMethod: paymentMethod.id }, async (clientSecret) => {
      if (!stripe) return 'The secure card form is not loaded; reload the page.'
      const { error: actionError } = await stripe.handleNextAction({ clientSecret })
      return actionError ? (actionError.message ?? 'The card could not be authenticated.') : undefined
    })
  }

  return (
    <form onSubmit={submit} aria-labelledby="card-title">
      <h3 id="card-title" className="h6">
        Pay by card
      </h3>
      <div className={`form-control stripe-card mb-2${error ? ' is-invalid' : ''}`}>
        <CardElement options={{ style: { base: { fontSize: '16px' } } }} />
      </div>
      {error ? (
        <div id="card-error" className="invalid-feedback d-block mb-2" role="alert" data-field-error="card">
          {error}
        </div>
      ) : null}
      <SubmitButton busy={busy || tokenising} busyLabel="Paying…" className="btn btn-success btn-lg w-100">
        Pay {formatPrice(amount)}
      </SubmitButton>
    </form>
  )
}
