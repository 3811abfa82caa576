package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"ticketing.dev/payments/internal/payment"
)

// ErrBadSignature: the webhook's Stripe-Signature is missing, does not match
// the payload under the secret, or is older than the tolerance.
var ErrBadSignature = errors.New("bad Stripe-Signature")

// DefaultTolerance is how old a signature may be (Stripe's default, 5 min):
// an older one is refused, so a captured delivery cannot be replayed later.
const DefaultTolerance = webhook.DefaultTolerance

// Verifier checks Stripe's webhook signatures (STRIPE_WEBHOOK_SECRET).
type Verifier struct {
	Secret    string
	Tolerance time.Duration
}

// Event verifies payload against its Stripe-Signature header and reduces it
// to what payment settles from. An unknown event type is answered with its
// id and type only. The event's API version may differ from stripe-go's
// (the endpoint's version is set in Stripe's dashboard): the fields read here
// are the same in every version since 2019.
func (v Verifier) Event(payload []byte, header string) (payment.Event, error) {
	tolerance := v.Tolerance
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	ev, err := webhook.ConstructEventWithOptions(payload, header, v.Secret,
		webhook.ConstructEventOptions{Tolerance: tolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		return payment.Event{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	out := payment.Event{ID: ev.ID, Type: string(ev.Type)}
	if ev.Data == nil {
		return out, nil
	}
	switch out.Type {
	case payment.EventIntentSucceeded, payment.EventIntentFailed, payment.EventIntentCanceled:
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return out, fmt.Errorf("event %s: %w", ev.ID, err)
		}
		out.Intent = Intent(&pi)
		if pi.LastPaymentError != nil {
			out.Intent.DeclineMessage = pi.LastPaymentError.Msg
		}
	case payment.EventChargeRefunded:
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return out, fmt.Errorf("event %s: %w", ev.ID, err)
		}
		out.Refund = refundOf(&ch)
	}
	return out, nil
}

func refundOf(ch *stripe.Charge) payment.RefundEvent {
	r := payment.RefundEvent{OrderID: ch.Metadata["orderId"], RefundID: "refunded in Stripe"}
	if ch.PaymentIntent != nil {
		r.IntentID = ch.PaymentIntent.ID
	}
	if ch.Refunds != nil && len(ch.Refunds.Data) > 0 {
		r.RefundID = ch.Refunds.Data[0].ID
	}
	return r
}
