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
// order's one charge document (plus reads), so two callers can never both
// hold an attempt, and a state once reached is never undone.
type Charges interface {
	// Claim opens the order's attempt for the caller until want.LeaseUntil:
	// a new charge, the next attempt after a failed one, or the next one
	// after an attempt abandoned before its intent was stored. An open
	// attempt whose intent exists is answered as it is (the caller returns
	// or confirms that intent). It answers ErrAlreadyPaid, ErrInProgress,
	// ErrCancelled or ErrTooManyAttempts otherwise.
	Claim(ctx context.Context, want Charge, now time.Time) (Charge, error)
	// BindIntent stores the attempt's PaymentIntent id, before it is confirmed.
	BindIntent(ctx context.Context, c Charge, intentID string, now time.Time) (Charge, error)
	// Lease takes the open intent of the order for one caller (to confirm or
	// settle it) until leaseUntil; false when someone else holds it or the
	// attempt is no longer open.
	Lease(ctx context.Context, orderID string, now, leaseUntil time.Time) (Charge, bool, error)
	// Release gives up c's lease.
	Release(ctx context.Context, c Charge) error
	// Succeeded records that intentID paid for the order and queues
	// payment:created, in one write. It answers the charge and whether this
	// call recorded it; a charge already paid by another intent answers
	// ErrAlreadyPaid (that intent is a stray, to refund).
	Succeeded(ctx context.Context, orderID, intentID string, now time.Time) (Charge, bool, error)
	// Failed closes the attempt of intentID (or the attempt with no intent,
	// when intentID is ""), counting a decline.
	Failed(ctx context.Context, c Charge, intentID, message string, declined bool, now time.Time) (Charge, error)
	// MarkCancelled records on the order's charge that the order was
	// cancelled and puts an attempted charge on the refunder's list.
	MarkCancelled(ctx context.Context, orderID string, now time.Time) (Charge, error)
	// NothingOwed takes a charge that never charged off the refunder's list.
	NothingOwed(ctx context.Context, orderID string, now time.Time) error
	// Refunded records the refund of the intent that paid, once.
	Refunded(ctx context.Context, orderID, intentID, refundID string, now time.Time) (Charge, error)
	// Get returns the order's charge, or ErrChargeNotFound.
	Get(ctx context.Context, orderID string) (Charge, error)
	// DueRefunds pages through the charges on the refunder's list.
	DueRefunds(ctx context.Context, cursor string, limit int) (Page, error)
	// Lapsed pages through the open attempts past their order's deadline
	// that nobody holds.
	Lapsed(ctx context.Context, now time.Time, cursor string, limit int) (Page, error)
}

// Events remembers the webhook events applied.
type Events interface {
	// Seen reports whether the event was applied already.
	Seen(ctx context.Context, id string) (bool, error)
	// Record notes the event as applied (once: its id is unique).
	Record(ctx context.Context, id, typ string, now time.Time) error
}

// Page is one bounded batch of a listing of charges: their orders, and the
// cursor of the next batch ("" after the last).
type Page struct {
	OrderIDs []string
	Next     string
}

// Gateway is the payment provider (Stripe's PaymentIntents).
type Gateway interface {
	// CreateIntent creates an unconfirmed intent; safe to repeat under its key.
	CreateIntent(ctx context.Context, req IntentRequest) (Intent, error)
	// ConfirmIntent confirms the intent with m, under key.
	ConfirmIntent(ctx context.Context, intentID string, m Method, key string) (Intent, error)
	// GetIntent retrieves the intent as it is now.
	GetIntent(ctx context.Context, intentID string) (Intent, error)
	// CancelIntent cancels an intent that did not succeed.
	CancelIntent(ctx context.Context, intentID, key string) (Intent, error)
	// Refund refunds the intent in full, once per idempotency key.
	Refund(ctx context.Context, idempotencyKey, intentID string) (string, error)
}

// Payment is what paying answers: the charge and its current intent.
type Payment struct {
	Charge Charge
	Intent Intent
}

// Paid reports whether the order is paid.
func (p Payment) Paid() bool { return p.Charge.Status == StatusCompleted }

// Payer pays for orders and settles what paying leaves open: from the
// confirmation's answer, from Stripe's signed webhooks, and (RunReconciler)
// by retrieving intents nobody settled by their order's deadline.
type Payer struct {
	orders   Orders
	charges  Charges
	events   Events
	gateway  Gateway
	currency string
	log      *slog.Logger
	// Now is the clock (tests move it).
	Now func() time.Time
	// CallTimeout bounds one call to the provider.
	CallTimeout time.Duration
	// Lease is how long a request holds an attempt while it creates or
	// confirms its intent; it must outlast two calls and the recording.
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

// NewPayer returns a Payer with the default clock and timings, charging in
// currency.
func NewPayer(orders Orders, charges Charges, events Events, gateway Gateway, currency string, logger *slog.Logger) *Payer {
	return &Payer{
		orders: orders, charges: charges, events: events, gateway: gateway, currency: currency,
		log: logger.With("component", "payer"),
		Now: time.Now, CallTimeout: DefaultCallTimeout, Lease: DefaultLease, BatchSize: DefaultBatchSize,
		wake: make(chan struct{}, 1),
	}
}

// Pay creates — or finds — the PaymentIntent of userID's order and, given a
// payment method, confirms it. It answers the payment (paid, or with the
// intent the browser is to act on), or: ErrOrderNotFound, ErrNotOwner,
// ErrCancelled, ErrExpired, ErrAlreadyPaid, ErrInProgress,
// ErrTooManyAttempts, a provider outcome error, or a *LatePaymentError.
func (p *Payer) Pay(ctx context.Context, userID, orderID string, m Method) (Payment, error) {
	// Once the provider is called, the call and the recording of its outcome
	// run to the end even if the buyer hangs up.
	ctx = context.WithoutCancel(ctx)
	o, err := p.orders.Get(ctx, orderID)
	if err != nil {
		return Payment{}, err
	}
	now := p.Now()
	if err := o.CheckPayable(userID, now); err != nil {
		return Payment{}, err
	}
	c, err := p.charges.Claim(ctx, Charge{
		OrderID: o.ID, UserID: userID, Amount: o.Price, Currency: p.currency,
		LeaseUntil: now.Add(p.Lease), SettleAfter: o.ExpiresAt,
	}, now)
	if err != nil {
		return Payment{}, err
	}
	if c.IntentID == "" {
		return p.open(ctx, c, m)
	}
	return p.existing(ctx, c, m)
}

// open creates the intent of the attempt c just claimed, stores its id, and
// confirms it when m says how.
func (p *Payer) open(ctx context.Context, c Charge, m Method) (Payment, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	in, err := p.gateway.CreateIntent(callCtx, IntentRequest{
		IdempotencyKey: c.IntentKey(), OrderID: c.OrderID, Amount: c.Amount, Currency: c.Currency,
	})
	cancel()
	if err != nil {
		// An intent that was never stored was never confirmed, so it
		// charged nothing whatever Stripe did: the attempt is closed, and the
		// next one creates its own.
		if _, recErr := p.charges.Failed(ctx, c, "", "creating the PaymentIntent failed: "+err.Error(), false, p.Now()); recErr != nil {
			p.log.Warn("closing an attempt whose intent was not created", "order_id", c.OrderID, "err", recErr)
		}
		return Payment{Charge: c}, err
	}
	c, err = p.charges.BindIntent(ctx, c, in.ID, p.Now())
	if err != nil {
		return Payment{Charge: c}, err
	}
	p.log.Info("payment intent created", "order_id", c.OrderID, "attempt", c.Attempt, "intent_id", in.ID, "amount", c.Amount)
	if m.Empty() {
		p.release(ctx, c)
		return Payment{Charge: c, Intent: in}, nil
	}
	return p.confirm(ctx, c, m)
}

// existing answers for an attempt whose intent exists: as it is at Stripe
// without a payment method, confirmed with one.
func (p *Payer) existing(ctx context.Context, c Charge, m Method) (Payment, error) {
	if m.Empty() {
		in, err := p.get(ctx, c.IntentID)
		if err != nil {
			return Payment{Charge: c}, err
		}
		return p.apply(ctx, c, in)
	}
	now := p.Now()
	c, ok, err := p.charges.Lease(ctx, c.OrderID, now, now.Add(p.Lease))
	switch {
	case err != nil:
		return Payment{Charge: c}, err
	case !ok:
		return Payment{Charge: c}, ErrInProgress
	}
	return p.confirm(ctx, c, m)
}

// confirm confirms c's intent with m and settles what Stripe answered. An
// answer that was lost is learned by retrieving the intent, never by
// confirming again.
func (p *Payer) confirm(ctx context.Context, c Charge, m Method) (Payment, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	in, err := p.gateway.ConfirmIntent(callCtx, c.IntentID, m, ConfirmKey(c.IntentID, m, c.LeaseUntil))
	cancel()
	var declined *DeclinedError
	switch {
	case errors.As(err, &declined):
		return p.declined(ctx, c, declined)
	case errors.Is(err, ErrOutcomeUnknown):
		in, err = p.get(ctx, c.IntentID)
		if err != nil || (in.Status == IntentRequiresPaymentMethod && in.DeclineMessage == "") {
			// Not known, or the confirmation did not take: the buyer tries
			// again (a new key), or the webhook or reconciler settles it.
			p.release(ctx, c)
			return Payment{Charge: c}, fmt.Errorf("confirming %s: %w", c.IntentID, ErrOutcomeUnknown)
		}
	case err != nil:
		// Nothing was done (a bad token, Stripe unreachable): the intent
		// stays open for another try.
		p.release(ctx, c)
		return Payment{Charge: c}, err
	}
	return p.apply(ctx, c, in)
}

func (p *Payer) declined(ctx context.Context, c Charge, declined *DeclinedError) (Payment, error) {
	failed, err := p.charges.Failed(ctx, c, c.IntentID, declined.Message, true, p.Now())
	if err != nil {
		p.release(ctx, c)
		p.log.Error("recording a declined payment", "order_id", c.OrderID, "err", err)
		return Payment{Charge: c}, declined
	}
	p.log.Info("card declined", "order_id", c.OrderID, "intent_id", c.IntentID)
	return Payment{Charge: failed}, declined
}

// apply settles c from its intent as Stripe reports it: paid, declined, or
// still open (the browser acts, or a webhook or the reconciler settles it).
func (p *Payer) apply(ctx context.Context, c Charge, in Intent) (Payment, error) {
	switch in.Status {
	case IntentSucceeded:
		paid, err := p.succeeded(ctx, c.OrderID, in.ID, true)
		return Payment{Charge: paid, Intent: in}, err
	case IntentCanceled:
		failed, err := p.charges.Failed(ctx, c, in.ID, "the payment was cancelled", false, p.Now())
		if err == nil {
			err = ErrCancelled
		}
		return Payment{Charge: failed, Intent: in}, err
	case IntentRequiresPaymentMethod:
		if in.DeclineMessage != "" && c.LeaseUntil.After(p.Now()) {
			return p.declined(ctx, c, &DeclinedError{Message: in.DeclineMessage})
		}
	}
	p.release(ctx, c)
	return Payment{Charge: c, Intent: in}, nil
}

func (p *Payer) get(ctx context.Context, intentID string) (Intent, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.CallTimeout)
	defer cancel()
	return p.gateway.GetIntent(callCtx, intentID)
}

// release gives up a lease this request holds, if it holds one.
func (p *Payer) release(ctx context.Context, c Charge) {
	if !c.LeaseUntil.After(p.Now()) {
		return
	}
	if err := p.charges.Release(ctx, c); err != nil {
		p.log.Warn("releasing an attempt; it is free when its lease lapses", "order_id", c.OrderID, "err", err)
	}
}
