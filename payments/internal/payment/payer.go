package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ticketing.dev/common/events"
)

// Orders reads payments' order replica.
type Orders interface {
	// Get returns the order, or ErrOrderNotFound.
	Get(ctx context.Context, id string) (Order, error)
}

// Charges stores charges. Every method is one conditional write on the
// order's one charge document, so two callers can never both hold an attempt.
type Charges interface {
	// Claim takes the order's charge for the caller until want.LeaseUntil:
	// a new charge, the next attempt after a failed one (with want.Token), or
	// the undecided attempt of a caller whose lease lapsed (with its own
	// token). It answers ErrAlreadyPaid or ErrInProgress otherwise.
	Claim(ctx context.Context, want Charge, now time.Time) (Charge, error)
	// Resume takes an undecided attempt whose lease lapsed. When it cannot
	// (the lease is live, or the charge is decided) it answers the charge as
	// it is and false.
	Resume(ctx context.Context, orderID string, now, leaseUntil time.Time) (Charge, bool, error)
	// Succeeded records the charge and queues payment:created in one write.
	Succeeded(ctx context.Context, c Charge, stripeID string, now time.Time) (Charge, error)
	// Failed records that the attempt did not charge the card.
	Failed(ctx context.Context, c Charge, message string, now time.Time) (Charge, error)
	// Release gives up the lease of an attempt whose outcome is not known.
	Release(ctx context.Context, c Charge) error
	// MarkRefundDue records that a completed charge must be refunded.
	MarkRefundDue(ctx context.Context, orderID string, now time.Time) error
	// Refunded records the refund.
	Refunded(ctx context.Context, orderID, refundID string, now time.Time) (Charge, error)
	// Get returns the order's charge, or ErrChargeNotFound.
	Get(ctx context.Context, orderID string) (Charge, error)
	// Unsettled lists the orders whose charge needs work nobody is doing: a
	// refund that is due, or an undecided attempt whose lease lapsed (within
	// the ReplayWindow).
	Unsettled(ctx context.Context, now time.Time) ([]string, error)
	// Stuck lists the orders whose attempt is still undecided after the
	// ReplayWindow.
	Stuck(ctx context.Context, now time.Time) ([]string, error)
}

// Gateway is the payment provider.
type Gateway interface {
	// Charge charges req and returns the provider's charge id, or one of the
	// outcome errors (DeclinedError, RejectedError, ErrNotCharged,
	// ErrOutcomeUnknown).
	Charge(ctx context.Context, req ChargeRequest) (string, error)
	// Refund refunds a charge in full, once per idempotency key.
	Refund(ctx context.Context, idempotencyKey, chargeID string) (string, error)
}

// Payer pays for orders and settles what paying leaves open.
type Payer struct {
	orders  Orders
	charges Charges
	gateway Gateway
	log     *slog.Logger
	// Now is the clock (tests move it).
	Now func() time.Time
	// CallTimeout bounds one call to the provider.
	CallTimeout time.Duration
	// Lease is how long a claim keeps others off an attempt. It must outlast
	// CallTimeout plus recording the outcome, or a slow attempt could be
	// taken over while it still runs (harmless for the card — the replay
	// carries the same idempotency key — but wasteful).
	Lease time.Duration
}

// Defaults for Payer.
const (
	DefaultCallTimeout = 30 * time.Second
	DefaultLease       = 2 * time.Minute
)

// NewPayer returns a Payer with the default clock and timings.
func NewPayer(orders Orders, charges Charges, gateway Gateway, logger *slog.Logger) *Payer {
	return &Payer{
		orders: orders, charges: charges, gateway: gateway, log: logger.With("component", "payer"),
		Now: time.Now, CallTimeout: DefaultCallTimeout, Lease: DefaultLease,
	}
}

// Pay charges userID's card token for orderID. It answers the recorded,
// completed charge, or: ErrOrderNotFound, ErrNotOwner, ErrCancelled,
// ErrExpired, ErrAlreadyPaid, ErrInProgress, a provider outcome error, or a
// *LatePaymentError when the order was cancelled while it was being paid.
func (p *Payer) Pay(ctx context.Context, userID, orderID, token string) (Charge, error) {
	// Once the provider is called, the call and the recording of its outcome
	// run to the end even if the buyer hangs up: an abandoned call would
	// leave the outcome open for longer.
	ctx = context.WithoutCancel(ctx)
	o, err := p.orders.Get(ctx, orderID)
	if err != nil {
		return Charge{}, err
	}
	now := p.Now()
	if err := o.CheckPayable(userID, now); err != nil {
		return Charge{}, err
	}
	// At most twice: if the claim hands back an earlier undecided attempt
	// with its own card and that card turns out not to be charged, this
	// request's card gets the next attempt.
	for range 2 {
		c, err := p.charges.Claim(ctx, Charge{
			OrderID: o.ID, UserID: userID, Amount: o.Price, Token: token, LeaseUntil: now.Add(p.Lease),
		}, now)
		if err != nil {
			return Charge{}, err
		}
		replay := c.Token != token
		c, err = p.attempt(ctx, c)
		if err != nil {
			if replay && Definite(err) {
				now = p.Now()
				continue
			}
			return c, err
		}
		return p.afterCharge(ctx, c)
	}
	return Charge{}, ErrInProgress
}

// attempt calls the provider for c's attempt and records what it said.
func (p *Payer) attempt(ctx context.Context, c Charge) (Charge, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	stripeID, err := p.gateway.Charge(callCtx, ChargeRequest{
		IdempotencyKey: c.IdempotencyKey(), OrderID: c.OrderID, Amount: c.Amount, Token: c.Token,
	})
	cancel()
	log := p.log.With("order_id", c.OrderID, "attempt", c.Attempt)
	switch {
	case err == nil:
		done, recErr := p.charges.Succeeded(ctx, c, stripeID, p.Now())
		if recErr != nil {
			// The lease lapses and a replay with the same idempotency key
			// finds this very charge, so it is recorded then.
			return c, fmt.Errorf("recording charge %s of order %s: %w", stripeID, c.OrderID, recErr)
		}
		log.Info("order paid", "stripe_id", stripeID, "amount", c.Amount)
		return done, nil
	case Definite(err):
		failed, recErr := p.charges.Failed(ctx, c, failureMessage(err), p.Now())
		if recErr != nil {
			// Left undecided, the attempt is replayed once its lease lapses
			// and the provider repeats its answer.
			log.Error("recording a failed charge", "err", recErr)
			return c, err
		}
		log.Info("charge not made", "reason", err)
		return failed, err
	default:
		if relErr := p.charges.Release(ctx, c); relErr != nil {
			log.Error("releasing an undecided charge; it is retried when its lease lapses", "err", relErr)
		}
		log.Warn("charge outcome unknown; it will be replayed with the same idempotency key", "err", err)
		return c, err
	}
}

func failureMessage(err error) string {
	var declined *DeclinedError
	var rejected *RejectedError
	switch {
	case errors.As(err, &declined):
		return declined.Message
	case errors.As(err, &rejected):
		return rejected.Message
	default:
		return err.Error()
	}
}

// afterCharge refunds a charge whose order was cancelled while it was made.
func (p *Payer) afterCharge(ctx context.Context, c Charge) (Charge, error) {
	o, err := p.orders.Get(ctx, c.OrderID)
	if err != nil {
		// Paid and recorded; if the order turns out cancelled, its
		// order:cancelled settles the refund.
		p.log.Warn("rereading a paid order", "order_id", c.OrderID, "err", err)
		return c, nil
	}
	if o.Status != events.StatusCancelled {
		return c, nil
	}
	return p.refundLate(ctx, c)
}

// refundLate marks c's refund due, then makes it. A refund that fails stays
// due for the reconciler.
func (p *Payer) refundLate(ctx context.Context, c Charge) (Charge, error) {
	if err := p.charges.MarkRefundDue(ctx, c.OrderID, p.Now()); err != nil {
		return c, fmt.Errorf("marking the refund of order %s due: %w", c.OrderID, err)
	}
	c.RefundDue = true
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	refundID, err := p.gateway.Refund(callCtx, RefundKey(c.OrderID), c.StripeID)
	cancel()
	if err != nil {
		p.log.Warn("refunding a late payment failed; it stays due", "order_id", c.OrderID, "stripe_id", c.StripeID, "err", err)
		return c, &LatePaymentError{Charge: c}
	}
	refunded, err := p.charges.Refunded(ctx, c.OrderID, refundID, p.Now())
	if err != nil {
		// Refunding again under the same key returns this refund.
		return c, fmt.Errorf("recording refund %s of order %s: %w", refundID, c.OrderID, err)
	}
	p.log.Info("late payment refunded", "order_id", c.OrderID, "stripe_id", c.StripeID, "refund_id", refundID)
	return refunded, &LatePaymentError{Charge: refunded, Refunded: true}
}

// Settle finishes what paying for orderID left open, if nobody else is: an
// undecided attempt is replayed (same idempotency key, same card) to learn
// its outcome, and a charge for a cancelled order is refunded. It answers
// ErrInProgress while a live request holds the charge (that request checks
// for a cancellation itself once it has charged).
func (p *Payer) Settle(ctx context.Context, orderID string) error {
	c, err := p.charges.Get(ctx, orderID)
	if errors.Is(err, ErrChargeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.Undecided() {
		now := p.Now()
		if c.LeaseUntil.After(now) {
			return ErrInProgress
		}
		resumed := false
		c, resumed, err = p.charges.Resume(ctx, orderID, now, now.Add(p.Lease))
		switch {
		case err != nil:
			return err
		case !resumed && c.Undecided():
			return ErrInProgress
		case resumed:
			if c, err = p.attempt(ctx, c); err != nil {
				if Definite(err) {
					return nil
				}
				return err
			}
		}
	}
	return p.refundIfCancelled(ctx, c)
}

// refundIfCancelled refunds a completed, unrefunded charge whose order is
// cancelled (or whose refund is already due).
func (p *Payer) refundIfCancelled(ctx context.Context, c Charge) error {
	orderID := c.OrderID
	if c.Status != StatusCompleted || c.StripeRefundID != "" {
		return nil
	}
	if !c.RefundDue {
		o, err := p.orders.Get(ctx, orderID)
		if err != nil {
			return err
		}
		if o.Status != events.StatusCancelled {
			return nil
		}
	}
	_, err := p.refundLate(ctx, c)
	var late *LatePaymentError
	if errors.As(err, &late) {
		if late.Refunded {
			return nil
		}
		return fmt.Errorf("order %s: %w", orderID, ErrRefundDue)
	}
	return err
}

// Reconcile settles every charge that needs it and nobody is working on, and
// reports how many it could not settle yet.
func (p *Payer) Reconcile(ctx context.Context) (int, error) {
	now := p.Now()
	stuck, err := p.charges.Stuck(ctx, now)
	if err != nil {
		return 0, err
	}
	for _, id := range stuck {
		p.log.Error("a charge's outcome is still unknown after the replay window; reconcile it in Stripe's dashboard",
			"order_id", id, "idempotency_key_prefix", "charge-"+id)
	}
	ids, err := p.charges.Unsettled(ctx, now)
	if err != nil {
		return 0, err
	}
	open := len(stuck)
	for _, id := range ids {
		if err := p.Settle(ctx, id); err != nil && !errors.Is(err, ErrInProgress) {
			p.log.Warn("settling a charge; retrying later", "order_id", id, "err", err)
			open++
		}
	}
	return open, nil
}

// RunReconciler reconciles every interval until ctx ends.
func (p *Payer) RunReconciler(interval time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := p.Reconcile(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("reconciling charges", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}
