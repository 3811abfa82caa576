package payment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// succeeded records that intentID paid for orderID, and refunds when the
// order was cancelled meanwhile (the write that recorded the success says so:
// RefundDue) or when another intent had already paid (a stray: the buyer
// confirmed twice in the browser). Unless inline, a due refund is left to
// the refunder, woken now: a webhook is answered at once, as Stripe asks.
func (p *Payer) succeeded(ctx context.Context, orderID, intentID string, inline bool) (Charge, error) {
	c, first, err := p.charges.Succeeded(ctx, orderID, intentID, p.Now())
	if errors.Is(err, ErrAlreadyPaid) {
		p.refundStray(ctx, orderID, intentID)
		return c, ErrAlreadyPaid
	}
	if err != nil {
		p.Wake()
		return c, fmt.Errorf("recording payment %s of order %s: %w", intentID, orderID, err)
	}
	if first {
		p.log.Info("order paid", "order_id", orderID, "intent_id", intentID, "amount", c.Amount)
	}
	switch {
	case c.StripeRefundID != "":
		return c, &LatePaymentError{Charge: c, Refunded: true}
	case !c.RefundDue:
		return c, nil
	case !first || !inline:
		// Whoever recorded the success refunds, or the refunder (the charge
		// is on its list) if that one died.
		p.Wake()
		return c, &LatePaymentError{Charge: c}
	}
	refunded, err := p.refund(ctx, c)
	if late := (*LatePaymentError)(nil); errors.As(err, &late) && !late.Refunded {
		p.Wake()
	}
	return refunded, err
}

// refundStray refunds an intent that succeeded after another one paid for
// the order. Its key is the intent's own: once however often it is tried.
func (p *Payer) refundStray(ctx context.Context, orderID, intentID string) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	defer cancel()
	refundID, err := p.gateway.Refund(callCtx, StrayRefundKey(intentID), intentID)
	if err != nil {
		p.log.Error("refunding a second payment of an order failed; Stripe redelivers the event", "order_id", orderID, "intent_id", intentID, "err", err)
		return
	}
	p.log.Warn("a second payment of an order was refunded", "order_id", orderID, "intent_id", intentID, "refund_id", refundID)
}

// refund makes c's due refund on its PaymentIntent and records it. A refund
// that fails stays due for the refunder.
func (p *Payer) refund(ctx context.Context, c Charge) (Charge, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	refundID, err := p.gateway.Refund(callCtx, RefundKey(c.OrderID), c.StripeID)
	cancel()
	if err != nil {
		p.log.Warn("refunding a late payment failed; it stays due", "order_id", c.OrderID, "intent_id", c.StripeID, "err", err)
		return c, &LatePaymentError{Charge: c}
	}
	refunded, err := p.charges.Refunded(ctx, c.OrderID, c.StripeID, refundID, p.Now())
	if err != nil {
		// Refunding again under the same key returns this refund.
		return c, fmt.Errorf("recording refund %s of order %s: %w", refundID, c.OrderID, err)
	}
	p.log.Info("late payment refunded", "order_id", c.OrderID, "intent_id", c.StripeID, "refund_id", refundID)
	return refunded, &LatePaymentError{Charge: refunded, Refunded: true}
}

// HandleEvent applies one verified webhook event, once: an event already
// applied changes nothing, and every change it makes is a conditional write
// that a duplicate, or an older event arriving late, cannot undo. An error
// means "not applied": Stripe delivers it again.
func (p *Payer) HandleEvent(ctx context.Context, ev Event) error {
	seen, err := p.events.Seen(ctx, ev.ID)
	if err != nil || seen {
		return err
	}
	if err := p.applyEvent(ctx, ev); err != nil {
		return err
	}
	return p.events.Record(ctx, ev.ID, ev.Type, p.Now())
}

func (p *Payer) applyEvent(ctx context.Context, ev Event) error {
	switch ev.Type {
	case EventIntentSucceeded:
		_, err := p.succeeded(ctx, ev.Intent.OrderID, ev.Intent.ID, false)
		if errors.Is(err, ErrAlreadyPaid) || errors.Is(err, ErrChargeNotFound) {
			return nil
		}
		var late *LatePaymentError
		if errors.As(err, &late) {
			// Recorded; the refund is made or due for the refunder.
			return nil
		}
		return err
	case EventIntentFailed, EventIntentCanceled:
		return p.intentFailed(ctx, ev)
	case EventChargeRefunded:
		return p.refunded(ctx, ev.Refund)
	}
	return nil
}

// intentFailed closes the attempt of a declined or cancelled intent, unless
// it moved on (paid, or a later attempt).
func (p *Payer) intentFailed(ctx context.Context, ev Event) error {
	c, err := p.charges.Get(ctx, ev.Intent.OrderID)
	if errors.Is(err, ErrChargeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.IntentID != ev.Intent.ID || !c.Undecided() {
		return nil
	}
	declined := ev.Type == EventIntentFailed
	msg := ev.Intent.DeclineMessage
	if msg == "" {
		msg = "the payment was not completed"
	}
	_, err = p.charges.Failed(ctx, c, ev.Intent.ID, msg, declined, p.Now())
	return err
}

// refunded records a refund Stripe reports (ours whose answer was lost, or
// one made in Stripe's dashboard).
func (p *Payer) refunded(ctx context.Context, r RefundEvent) error {
	if r.OrderID == "" {
		in, err := p.get(ctx, r.IntentID)
		if err != nil {
			return err
		}
		r.OrderID = in.OrderID
	}
	_, err := p.charges.Refunded(ctx, r.OrderID, r.IntentID, r.RefundID, p.Now())
	if errors.Is(err, ErrChargeNotFound) {
		return nil
	}
	return err
}

// RecordCancellation records on orderID's charge that the order was
// cancelled — one database write, never a call to the provider, so it is fit
// for a bus handler — and wakes the refunder, which refunds a payment and
// cancels an intent still open.
func (p *Payer) RecordCancellation(ctx context.Context, orderID string) error {
	c, err := p.charges.MarkCancelled(ctx, orderID, p.Now())
	if err != nil {
		return err
	}
	if c.RefundDue {
		p.Wake()
	}
	return nil
}

// Wake makes the refunder run a pass now (or right after the one it is in).
func (p *Payer) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Settle finishes what paying for orderID left open, if nobody else is: an
// open attempt of a cancelled order, or one past its order's deadline, is
// retrieved from Stripe — recorded as paid if it succeeded, cancelled at
// Stripe otherwise, so no browser can pay for it later — and a refund due
// is made. It answers ErrInProgress while a live request holds the charge.
func (p *Payer) Settle(ctx context.Context, orderID string) error {
	c, err := p.charges.Get(ctx, orderID)
	if errors.Is(err, ErrChargeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := p.Now()
	if c.Undecided() && (c.RefundDue || !c.SettleAfter.After(now)) {
		if c, err = p.settleOpen(ctx, c, now); err != nil {
			return err
		}
	}
	return p.refundIfDue(ctx, c)
}

// settleOpen takes the lease of c's open attempt and settles it from Stripe.
func (p *Payer) settleOpen(ctx context.Context, c Charge, now time.Time) (Charge, error) {
	c, ok, err := p.charges.Lease(ctx, c.OrderID, now, now.Add(p.Lease))
	switch {
	case err != nil:
		return c, err
	case !ok && c.Undecided():
		return c, ErrInProgress
	case !ok:
		return c, nil
	case c.IntentID == "":
		return p.charges.Failed(ctx, c, "", "abandoned before its PaymentIntent was stored", false, p.Now())
	}
	in, err := p.get(ctx, c.IntentID)
	if err != nil {
		p.release(ctx, c)
		return c, err
	}
	if in.Status == IntentSucceeded || in.Status == IntentCanceled {
		pay, err := p.apply(ctx, c, in)
		if errors.As(err, new(*LatePaymentError)) || errors.Is(err, ErrCancelled) {
			err = nil
		}
		return pay.Charge, err
	}
	return p.cancelOpen(ctx, c)
}

// cancelOpen cancels an intent left open past its order's deadline (or
// whose order was cancelled), and closes the attempt.
func (p *Payer) cancelOpen(ctx context.Context, c Charge) (Charge, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	in, err := p.gateway.CancelIntent(callCtx, c.IntentID, CancelKey(c.IntentID))
	cancel()
	if err != nil {
		// It may have succeeded meanwhile (Stripe refuses to cancel it):
		// the next pass retrieves it again.
		p.release(ctx, c)
		return c, fmt.Errorf("cancelling %s of order %s: %w", c.IntentID, c.OrderID, err)
	}
	p.log.Info("payment intent left open past its order's deadline cancelled", "order_id", c.OrderID, "intent_id", in.ID)
	return p.charges.Failed(ctx, c, c.IntentID, "not completed before the order's deadline", false, p.Now())
}

// refundIfDue refunds a charge on the refunder's list that charged the card,
// and takes one that did not off the list.
func (p *Payer) refundIfDue(ctx context.Context, c Charge) error {
	switch {
	case !c.RefundDue || c.Undecided():
		return nil
	case c.Status != StatusCompleted:
		return p.charges.NothingOwed(ctx, c.OrderID, p.Now())
	}
	_, err := p.refund(ctx, c)
	var late *LatePaymentError
	if errors.As(err, &late) {
		if late.Refunded {
			return nil
		}
		return fmt.Errorf("order %s: %w", c.OrderID, ErrRefundDue)
	}
	return err
}
