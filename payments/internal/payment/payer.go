package payment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
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
	// token). It answers ErrAlreadyPaid or ErrInProgress otherwise, and
	// ErrTooManyAttempts rather than a next attempt after the last decline
	// allowed.
	Claim(ctx context.Context, want Charge, now time.Time) (Charge, error)
	// Resume takes an undecided attempt whose lease lapsed. When it cannot
	// (the lease is live, or the charge is decided) it answers the charge as
	// it is and false.
	Resume(ctx context.Context, orderID string, now, leaseUntil time.Time) (Charge, bool, error)
	// Succeeded records the charge and queues payment:created in one write.
	Succeeded(ctx context.Context, c Charge, stripeID string, now time.Time) (Charge, error)
	// Failed records that the attempt did not charge the card, and counts
	// it against the order's attempts when the card was declined.
	Failed(ctx context.Context, c Charge, message string, declined bool, now time.Time) (Charge, error)
	// Release gives up the lease of an attempt whose outcome is not known.
	Release(ctx context.Context, c Charge) error
	// MarkCancelled records on the order's charge that the order was
	// cancelled, whatever the charge is doing, and puts it on the refunder's
	// list (RefundDue) unless it is refunded already. With no charge yet it
	// creates one with no attempt, which keeps every later claim off.
	MarkCancelled(ctx context.Context, orderID string, now time.Time) (Charge, error)
	// NothingOwed takes a charge that never charged the card (failed, or
	// never attempted) off the refunder's list.
	NothingOwed(ctx context.Context, orderID string, now time.Time) error
	// Refunded records the refund, once.
	Refunded(ctx context.Context, orderID, refundID string, now time.Time) (Charge, error)
	// Get returns the order's charge, or ErrChargeNotFound.
	Get(ctx context.Context, orderID string) (Charge, error)
	// DueRefunds pages through the charges on the refunder's list.
	DueRefunds(ctx context.Context, cursor string, limit int) (Page, error)
	// Lapsed pages through the undecided attempts whose lease lapsed (within
	// the ReplayWindow): work nobody is doing.
	Lapsed(ctx context.Context, now time.Time, cursor string, limit int) (Page, error)
	// Stuck pages through the attempts still undecided after the
	// ReplayWindow.
	Stuck(ctx context.Context, now time.Time, cursor string, limit int) (Page, error)
}

// Page is one bounded batch of a listing of charges: their orders, and the
// cursor of the next batch ("" after the last).
type Page struct {
	OrderIDs []string
	Next     string
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

// Payer pays for orders and settles what paying leaves open. Its refunder
// (RunReconciler) is the only place a refund for a cancellation is asked of
// the provider outside a buyer's request: bus handlers only record.
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
	// BatchSize bounds how many charges one reconciliation query reads.
	BatchSize int

	wake   chan struct{}
	passes atomic.Int64
}

// Defaults for Payer.
const (
	DefaultCallTimeout = 30 * time.Second
	DefaultLease       = 2 * time.Minute
	DefaultBatchSize   = 100
	// firstRetry is how soon the refunder tries again after a pass that left
	// work open (Stripe down), doubling up to the reconcile interval.
	firstRetry = time.Second
)

// NewPayer returns a Payer with the default clock and timings.
func NewPayer(orders Orders, charges Charges, gateway Gateway, logger *slog.Logger) *Payer {
	return &Payer{
		orders: orders, charges: charges, gateway: gateway, log: logger.With("component", "payer"),
		Now: time.Now, CallTimeout: DefaultCallTimeout, Lease: DefaultLease, BatchSize: DefaultBatchSize,
		wake: make(chan struct{}, 1),
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
			// The write may have landed with its answer lost (then a due
			// refund is there for the refunder now), or not (then a replay
			// with the same idempotency key finds this very charge and
			// records it). Releasing the lease, if the database lets us,
			// makes that replay possible at once instead of when it lapses.
			if relErr := p.charges.Release(ctx, c); relErr != nil {
				log.Warn("releasing an unrecorded charge; it is replayed when its lease lapses", "err", relErr)
			}
			p.Wake()
			return c, fmt.Errorf("recording charge %s of order %s: %w", stripeID, c.OrderID, recErr)
		}
		log.Info("order paid", "stripe_id", stripeID, "amount", c.Amount)
		return done, nil
	case Definite(err):
		var declined *DeclinedError
		failed, recErr := p.charges.Failed(ctx, c, failureMessage(err), errors.As(err, &declined), p.Now())
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
// The write that recorded the charge says so (RefundDue, set by the
// cancellation): no re-read of the order, so nothing is lost if this request
// dies here — the refund is due on the charge and the refunder makes it.
func (p *Payer) afterCharge(ctx context.Context, c Charge) (Charge, error) {
	if !c.RefundDue {
		return c, nil
	}
	refunded, err := p.refund(ctx, c)
	if late := (*LatePaymentError)(nil); errors.As(err, &late) && !late.Refunded {
		p.Wake()
	}
	return refunded, err
}

// refund makes c's due refund and records it. A refund that fails stays due
// for the refunder.
func (p *Payer) refund(ctx context.Context, c Charge) (Charge, error) {
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

// RecordCancellation records on orderID's charge that the order was
// cancelled — one database write, never a call to the provider, so it is fit
// for a bus handler — and wakes the refunder when there is something it can
// do now. A charge in flight needs nothing more: its completion finds the
// refund due, and the request refunds, or the refunder does if the request
// died.
func (p *Payer) RecordCancellation(ctx context.Context, orderID string) error {
	now := p.Now()
	c, err := p.charges.MarkCancelled(ctx, orderID, now)
	if err != nil {
		return err
	}
	if c.RefundDue && !(c.Undecided() && c.LeaseUntil.After(now)) {
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
// undecided attempt is replayed (same idempotency key, same card) to learn
// its outcome, and a charge whose refund is due is refunded. It answers
// ErrInProgress while a live request holds the charge (whichever of that
// request's completion and the cancellation is recorded second makes the
// refund due, so the request refunds, or the refunder after it).
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
			if c, err = p.attempt(ctx, c); err != nil && !Definite(err) {
				return err
			}
		}
	}
	return p.refundIfDue(ctx, c)
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

// Reconcile settles every charge that needs it and nobody is working on — due
// refunds first, then undecided attempts whose lease lapsed — and reports how
// many it could not settle yet. Each listing is read in bounded batches.
func (p *Payer) Reconcile(ctx context.Context) (int, error) {
	now := p.Now()
	open := 0
	err := p.each(ctx, func(cursor string) (Page, error) { return p.charges.Stuck(ctx, now, cursor, p.batch()) }, func(id string) {
		p.log.Error("a charge's outcome is still unknown after the replay window; reconcile it in Stripe's dashboard",
			"order_id", id, "idempotency_key_prefix", "charge-"+id)
		open++
	})
	if err != nil {
		return open, err
	}
	settle := func(id string) {
		if err := p.Settle(ctx, id); err != nil && !errors.Is(err, ErrInProgress) {
			p.log.Warn("settling a charge; retrying later", "order_id", id, "err", err)
			open++
		}
	}
	if err := p.each(ctx, func(cursor string) (Page, error) { return p.charges.DueRefunds(ctx, cursor, p.batch()) }, settle); err != nil {
		return open, err
	}
	err = p.each(ctx, func(cursor string) (Page, error) { return p.charges.Lapsed(ctx, now, cursor, p.batch()) }, settle)
	return open, err
}

func (p *Payer) batch() int {
	if p.BatchSize > 0 {
		return p.BatchSize
	}
	return DefaultBatchSize
}

// each calls do for every order of a paged listing, one batch at a time.
func (p *Payer) each(ctx context.Context, list func(cursor string) (Page, error), do func(orderID string)) error {
	cursor := ""
	for {
		page, err := list(cursor)
		if err != nil {
			return err
		}
		for _, id := range page.OrderIDs {
			do(id)
		}
		if page.Next == "" || ctx.Err() != nil {
			return ctx.Err()
		}
		cursor = page.Next
	}
}

// Passes is how many passes the refunder has finished: the first one, at
// start, settles what a process that died left behind.
func (p *Payer) Passes() int64 { return p.passes.Load() }

// RunReconciler is the refunder: it reconciles when woken (a cancellation
// recorded, a refund that failed) and every interval until ctx ends. A pass
// that left work open is retried sooner, backing off from a second up to the
// interval, so a refund Stripe refused for a moment is not an interval late.
func (p *Payer) RunReconciler(interval time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		retry := firstRetry
		for {
			next := interval
			open, err := p.Reconcile(ctx)
			p.passes.Add(1)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				p.log.Warn("reconciling charges", "err", err)
				fallthrough
			case open > 0:
				next = min(retry, interval)
				retry = min(2*retry, interval)
			default:
				retry = firstRetry
			}
			t := time.NewTimer(next)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-p.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
}
