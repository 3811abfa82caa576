// Package payment holds the rules about paying for an order: when an order may
// be paid, what a charge is and how it moves from created to failed or
// completed, which outcomes of the payment provider mean "not charged" and
// which mean "not known yet", and the errors the rest of payments speaks in.
// It knows nothing of HTTP, MongoDB or Stripe's client library.
package payment

import (
	"crypto/sha256"
	"encoding/hex"
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
	// StatusCreated: an attempt is open — its PaymentIntent being created
	// (no IntentID yet) or created and not final (requires a payment method,
	// the buyer's 3-D Secure, or processing).
	StatusCreated Status = "created"
	// StatusFailed: the attempt's intent did not charge the card (declined,
	// cancelled, or never confirmed); a new attempt may follow.
	StatusFailed Status = "failed"
	// StatusCompleted: a PaymentIntent of the order succeeded.
	StatusCompleted Status = "completed"
)

// DefaultCurrency is what tickets are priced in unless PAYMENT_CURRENCY says
// otherwise.
const DefaultCurrency = "usd"

// Charge is the record of paying for one order: one per order, across
// attempts, each attempt with its own PaymentIntent.
type Charge struct {
	ID       string
	OrderID  string
	UserID   string
	Status   Status
	Amount   money.Price
	Currency string
	// Attempt counts PaymentIntents; it moves on only once the current one
	// is known not to have charged (declined, cancelled, never created).
	Attempt int
	// Declines counts the attempts whose card was declined.
	Declines int
	// IntentID is the attempt's PaymentIntent, stored before it is confirmed.
	IntentID string
	// AttemptedAt is when the current attempt began.
	AttemptedAt time.Time
	// LeaseUntil keeps other requests off while one creates or confirms.
	LeaseUntil time.Time
	// SettleAfter is the order's deadline: an intent still open then is
	// retrieved (and cancelled unless it succeeded) by the reconciler.
	SettleAfter time.Time
	// StripeID is the PaymentIntent that paid.
	StripeID       string
	StripeRefundID string
	// CancelSeen records that order:cancelled arrived; never cleared.
	CancelSeen bool
	// RefundDue puts the charge on the refunder's list: set by the
	// cancellation of an attempted charge whatever it was doing, cleared when
	// the refund is recorded or the charge turns out never to have charged.
	RefundDue      bool
	FailureMessage string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// IntentKey is the idempotency key of the current attempt's PaymentIntent.
func (c Charge) IntentKey() string { return IntentKey(c.OrderID, c.Attempt) }

// IntentKey is the idempotency key of attempt's PaymentIntent for orderID.
func IntentKey(orderID string, attempt int) string { return fmt.Sprintf("pi-%s-%d", orderID, attempt) }

// RefundKey is the idempotency key of the one refund an order can get.
func RefundKey(orderID string) string { return "refund-" + orderID }

// StrayRefundKey is the idempotency key refunding a PaymentIntent that
// succeeded after another one had already paid for its order.
func StrayRefundKey(intentID string) string { return "refund-" + intentID }

// CancelKey is the idempotency key cancelling an intent left open.
func CancelKey(intentID string) string { return "cancel-" + intentID }

// ConfirmKey is the idempotency key of one confirmation of intentID with m,
// under the lease that sends it (leaseUntil): a request sent twice within
// one lease is one confirmation, and a later try — after an answer that was
// lost — is a request of its own, never the saved 500 of the first. (A
// PaymentIntent succeeds at most once however often it is confirmed.)
func ConfirmKey(intentID string, m Method, leaseUntil time.Time) string {
	sum := sha256.Sum256([]byte(m.Token + "\x00" + m.PaymentMethod))
	return fmt.Sprintf("confirm-%s-%s-%d", intentID, hex.EncodeToString(sum[:8]), leaseUntil.UnixMilli())
}

// Attempted reports whether an attempt was ever opened: a cancellation that
// arrives first leaves a charge with none, which keeps every later claim off.
func (c Charge) Attempted() bool { return c.Attempt > 0 }

// Undecided reports whether the current attempt is open.
func (c Charge) Undecided() bool { return c.Status == StatusCreated }

// Method is how the buyer pays when payments confirms: a legacy card token
// (tok_…) or a PaymentMethod (pm_…). Neither: the browser confirms.
type Method struct{ Token, PaymentMethod string }

// Empty reports whether there is nothing to confirm with.
func (m Method) Empty() bool { return m.Token == "" && m.PaymentMethod == "" }

// IntentStatus is a PaymentIntent's status, as Stripe names it.
type IntentStatus string

// PaymentIntent statuses.
const (
	IntentRequiresPaymentMethod IntentStatus = "requires_payment_method"
	IntentRequiresConfirmation  IntentStatus = "requires_confirmation"
	IntentRequiresAction        IntentStatus = "requires_action"
	IntentProcessing            IntentStatus = "processing"
	IntentSucceeded             IntentStatus = "succeeded"
	IntentCanceled              IntentStatus = "canceled"
)

// Intent is a PaymentIntent as payments needs it.
type Intent struct {
	ID           string
	OrderID      string
	Status       IntentStatus
	ClientSecret string
	Amount       int64
	Currency     string
	// DeclineMessage is the last payment error's message (for the buyer)
	// when the card was declined.
	DeclineMessage string
}

// IntentRequest is the PaymentIntent to create for one attempt.
type IntentRequest struct {
	IdempotencyKey string
	OrderID        string
	Amount         money.Price
	Currency       string
}

// Event is a verified webhook event, reduced to what settles a charge.
type Event struct {
	ID   string
	Type string
	// Intent is data.object for payment_intent.* events.
	Intent Intent
	// Refund is what charge.refunded says.
	Refund RefundEvent
}

// RefundEvent is a charge.refunded event's charge.
type RefundEvent struct {
	IntentID, OrderID, RefundID string
}

// Webhook event types payments settles from.
const (
	EventIntentSucceeded = "payment_intent.succeeded"
	EventIntentFailed    = "payment_intent.payment_failed"
	EventIntentCanceled  = "payment_intent.canceled"
	EventChargeRefunded  = "charge.refunded"
)

// The provider's answers that are not a result. A DeclinedError, a
// RejectedError and ErrNotCharged are definite: nothing was charged.
// ErrOutcomeUnknown is not: payments learns the outcome by retrieving the
// intent, never by sending the request again.

// DeclinedError: the card was declined; Message is the provider's, for the buyer.
type DeclinedError struct{ Message string }

func (e *DeclinedError) Error() string { return "card declined: " + e.Message }

// RejectedError: the provider refused the request as invalid (a bad token, an
// amount it does not accept). Param names the offending parameter.
type RejectedError struct{ Param, Message string }

func (e *RejectedError) Error() string { return "payment request rejected: " + e.Message }

var (
	// ErrNotCharged: the provider could not be reached, or answered that it
	// would not process the request; nothing was charged.
	ErrNotCharged = errors.New("payment provider unavailable; the card was not charged")
	// ErrOutcomeUnknown: the provider failed in a way that leaves open
	// what the request did (a timeout, a server error).
	ErrOutcomeUnknown = errors.New("payment provider failed; the outcome is not known yet")
)

// Definite reports whether err from the provider means nothing was done.
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
