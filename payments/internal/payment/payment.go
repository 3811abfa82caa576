// Package payment holds the rules about paying for an order: when an order may
// be paid, what a charge is and how it moves from created to failed or
// completed, which outcomes of the payment provider mean "not charged" and
// which mean "not known yet", and the errors the rest of payments speaks in.
// It knows nothing of HTTP, MongoDB or Stripe's client library.
package payment

import (
	"errors"
	"fmt"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
)

// DefaultMaxPaymentAttempts is how many declined payments an order may have
// (MAX_PAYMENT_ATTEMPTS): a buyer's typo or a second card fits, a card
// tester's list does not (DESIGN.md §9).
const DefaultMaxPaymentAttempts = 3

var (
	// ErrOrderNotFound: payments has no such order (or has not heard of it yet).
	ErrOrderNotFound = errors.New("order not found")
	ErrNotOwner      = errors.New("not the buyer of this order")
	ErrCancelled     = errors.New("order is cancelled")
	ErrExpired       = errors.New("order has expired")
	// ErrAlreadyPaid: the order is complete, or its charge succeeded.
	ErrAlreadyPaid = errors.New("order is already paid")
	// ErrInProgress: another request is charging this order right now.
	ErrInProgress = errors.New("a payment for this order is in progress")
	// ErrReplicaBehind: an order event arrived before the one it follows.
	ErrReplicaBehind = errors.New("order replica is behind this version")
	// ErrChargeNotFound: the order has no charge.
	ErrChargeNotFound = errors.New("no charge for this order")
	// ErrTooManyAttempts: the order's card was declined MAX_PAYMENT_ATTEMPTS
	// times; no further attempt reaches the provider (card testing).
	ErrTooManyAttempts = errors.New("too many declined payments for this order")
	// ErrRefundDue: a refund is owed and recorded as due, but the provider
	// has not made it yet; the reconciler retries.
	ErrRefundDue = errors.New("refund is due and not made yet")
)

// Order is payments' replica of an order: just what deciding a payment needs.
type Order struct {
	ID        string
	Version   int64
	Status    events.OrderStatus
	UserID    string
	Price     money.Price
	ExpiresAt time.Time
}

// CheckPayable says whether userID may pay for o at now: only its buyer, only
// while it is open and its reservation window has not passed.
func (o Order) CheckPayable(userID string, now time.Time) error {
	switch {
	case o.UserID != userID:
		return ErrNotOwner
	case o.Status == events.StatusCancelled:
		return ErrCancelled
	case o.Status == events.StatusComplete:
		return ErrAlreadyPaid
	case !o.ExpiresAt.IsZero() && !now.Before(o.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// Status is where a charge is.
type Status string

const (
	// StatusCreated: claimed, and either being charged right now (its lease
	// is live) or charged with an outcome not known yet (its lease lapsed).
	StatusCreated Status = "created"
	// StatusFailed: the provider did not charge the card; a new attempt may
	// follow.
	StatusFailed Status = "failed"
	// StatusCompleted: the card was charged.
	StatusCompleted Status = "completed"
)

// ReplayWindow is how long after an attempt began it may be replayed to learn
// its outcome. Stripe keeps an idempotency key (and the first answer to it,
// a 500 included) for at least 24 hours; a replay after that would charge
// afresh. An attempt still undecided after the window is left for a person
// to reconcile in Stripe's dashboard, and logged as such.
const ReplayWindow = 23 * time.Hour

// Currency is what every ticket is priced in.
const Currency = "usd"

// Charge is the record of paying for one order: one per order, across
// attempts.
type Charge struct {
	ID      string
	OrderID string
	UserID  string
	Status  Status
	Amount  money.Price
	// Attempt counts tries with a fresh card; it changes only after the
	// provider said no, so every replay of one attempt carries one
	// idempotency key and cannot charge twice.
	Attempt int
	// Declines counts the attempts the provider declined the card for.
	Declines int
	// Token is the card token of the current attempt, kept while its outcome
	// is open so a replay sends the provider exactly the same request.
	Token string
	// AttemptedAt is when the current attempt began.
	AttemptedAt time.Time
	// LeaseUntil is when the claim of whoever is charging runs out.
	LeaseUntil     time.Time
	StripeID       string
	StripeRefundID string
	// CancelSeen records that order:cancelled arrived for the order, whatever
	// the charge was doing then. It never goes back to false.
	CancelSeen bool
	// RefundDue puts the charge on the refunder's list: set by the
	// cancellation whatever the charge was doing, so the write that records a
	// completion finds it; cleared when the refund is recorded, or when the
	// charge turns out never to have charged the card. A cancellation before
	// any attempt does not set it: nothing can be charged after it.
	RefundDue      bool
	FailureMessage string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// IdempotencyKey is the provider's idempotency key for the current attempt.
func (c Charge) IdempotencyKey() string { return fmt.Sprintf("charge-%s-%d", c.OrderID, c.Attempt) }

// RefundKey is the idempotency key of the one refund an order can get.
func RefundKey(orderID string) string { return "refund-" + orderID }

// Attempted reports whether the order was ever sent to the provider: a
// cancellation that arrives first leaves a charge with no attempt, which keeps
// every later claim off.
func (c Charge) Attempted() bool { return c.Attempt > 0 }

// Undecided reports whether the charge was (or is being) sent with no known
// outcome.
func (c Charge) Undecided() bool { return c.Status == StatusCreated }

// ChargeRequest is what the provider is asked to charge.
type ChargeRequest struct {
	IdempotencyKey string
	OrderID        string
	Amount         money.Price
	Token          string
}

// The provider's answers that are not a charge. A DeclinedError, a
// RejectedError and ErrNotCharged are definite: the card was not charged, and
// a new attempt may follow. ErrOutcomeUnknown is not: the request may have
// charged the card, and only a replay with the same idempotency key can tell.

// DeclinedError: the card was declined; Message is the provider's, for the buyer.
type DeclinedError struct{ Message string }

func (e *DeclinedError) Error() string { return "card declined: " + e.Message }

// RejectedError: the provider refused the request as invalid (a bad token, an
// amount it does not accept). Param names the offending parameter.
type RejectedError struct{ Param, Message string }

func (e *RejectedError) Error() string { return "payment request rejected: " + e.Message }

var (
	// ErrNotCharged: the provider could not be reached, or answered that it
	// would not process the request; the card was not charged.
	ErrNotCharged = errors.New("payment provider unavailable; the card was not charged")
	// ErrOutcomeUnknown: the provider failed in a way that leaves open
	// whether the card was charged (a timeout, a server error).
	ErrOutcomeUnknown = errors.New("payment provider failed; whether the card was charged is not known yet")
)

// Definite reports whether err from the provider means the card was not
// charged (so the attempt is over and may be recorded as failed).
func Definite(err error) bool {
	var declined *DeclinedError
	var rejected *RejectedError
	return errors.As(err, &declined) || errors.As(err, &rejected) || errors.Is(err, ErrNotCharged)
}

// LatePaymentError: the card was charged, but the order had been cancelled
// meanwhile; the charge is refunded (or the refund is due and will be retried).
type LatePaymentError struct {
	Charge   Charge
	Refunded bool
}

func (e *LatePaymentError) Error() string {
	return fmt.Sprintf("order %s was cancelled while it was being paid; refunded: %t", e.Charge.OrderID, e.Refunded)
}

func (e *LatePaymentError) Unwrap() error { return ErrCancelled }
