// Package gateway charges and refunds through Stripe (stripe-go), and sorts
// Stripe's answers into payment's outcomes: declined, rejected, not charged,
// or not known yet.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/charge"
	"github.com/stripe/stripe-go/v76/refund"

	"ticketing.dev/payments/internal/payment"
)

// Config says how to reach Stripe.
type Config struct {
	// Key is the secret API key (STRIPE_KEY).
	Key string
	// APIBase replaces Stripe's API address (STRIPE_API_BASE: stripe-mock).
	APIBase string
	// Timeout bounds one HTTP request to Stripe (when HTTPClient is nil).
	Timeout time.Duration
	// HTTPClient carries the requests; nil is a plain client with Timeout.
	// (Tracing wraps its transport.)
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Stripe is the payment provider.
type Stripe struct {
	charges charge.Client
	refunds refund.Client
	log     *slog.Logger
}

// New returns a Stripe gateway.
func New(cfg Config) *Stripe {
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	bc := &stripe.BackendConfig{
		HTTPClient: cfg.HTTPClient,
		// Retries are ours (payment.Payer replays an attempt under its
		// idempotency key): with none inside stripe-go, a connection that
		// was refused means this one request never reached Stripe.
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(cfg.APIBase)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	return &Stripe{
		charges: charge.Client{B: backend, Key: cfg.Key},
		refunds: refund.Client{B: backend, Key: cfg.Key},
		log:     cfg.Logger.With("component", "stripe"),
	}
}

// Charge implements payment.Gateway: amount in cents, in USD, from the card
// token, under the attempt's idempotency key.
func (s *Stripe) Charge(ctx context.Context, req payment.ChargeRequest) (string, error) {
	params := &stripe.ChargeParams{
		Amount:      stripe.Int64(req.Amount.Cents()),
		Currency:    stripe.String(payment.Currency),
		Source:      &stripe.PaymentSourceSourceParams{Token: stripe.String(req.Token)},
		Description: stripe.String("Ticketing order " + req.OrderID),
	}
	params.Context = ctx
	params.SetIdempotencyKey(req.IdempotencyKey)
	params.AddMetadata("orderId", req.OrderID)
	ch, err := s.charges.New(params)
	if err != nil {
		return "", s.outcome("charge", req.OrderID, err)
	}
	if ch.Status == stripe.ChargeStatusFailed {
		return "", &payment.DeclinedError{Message: ch.FailureMessage}
	}
	return ch.ID, nil
}

// Refund implements payment.Gateway: a full refund of the charge.
func (s *Stripe) Refund(ctx context.Context, idempotencyKey, chargeID string) (string, error) {
	params := &stripe.RefundParams{Charge: stripe.String(chargeID), Reason: stripe.String(string(stripe.RefundReasonRequestedByCustomer))}
	params.Context = ctx
	params.SetIdempotencyKey(idempotencyKey)
	r, err := s.refunds.New(params)
	if err != nil {
		return "", s.outcome("refund", chargeID, err)
	}
	return r.ID, nil
}

// outcome sorts a failed call into payment's outcomes. Stripe processes a
// request only if it answers 2xx or 402 (a card error); any other 4xx means it
// refused the request outright. A 5xx, a timeout or a dropped connection
// leaves the outcome open, except a connection that was never made.
func (s *Stripe) outcome(what, ref string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		log := s.log.With("call", what, "ref", ref, "status", se.HTTPStatusCode, "type", se.Type, "code", se.Code, "request_id", se.RequestID)
		switch {
		case se.Type == stripe.ErrorTypeCard:
			return &payment.DeclinedError{Message: se.Msg}
		case se.Type == stripe.ErrorTypeIdempotency || se.HTTPStatusCode == http.StatusConflict:
			// Another request with this key is still running, or our replay
			// differs from the original: not known yet.
			log.Warn("Stripe refused an idempotent replay", "message", se.Msg)
			return fmt.Errorf("%w: %s", payment.ErrOutcomeUnknown, se.Msg)
		case se.Type == stripe.ErrorTypeInvalidRequest &&
			(se.HTTPStatusCode == http.StatusBadRequest || se.HTTPStatusCode == http.StatusNotFound):
			return &payment.RejectedError{Param: se.Param, Message: se.Msg}
		case se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500:
			// Authentication, permissions, rate limits: refused, not charged.
			log.Error("Stripe refused the request", "message", se.Msg)
			return fmt.Errorf("%w: %s", payment.ErrNotCharged, se.Msg)
		default:
			log.Warn("Stripe failed", "message", se.Msg)
			return fmt.Errorf("%w: %s", payment.ErrOutcomeUnknown, se.Msg)
		}
	}
	if neverSent(err) {
		s.log.Warn("Stripe unreachable", "call", what, "ref", ref, "err", err)
		return fmt.Errorf("%w: %v", payment.ErrNotCharged, err)
	}
	s.log.Warn("Stripe call failed", "call", what, "ref", ref, "err", err)
	return fmt.Errorf("%w: %v", payment.ErrOutcomeUnknown, err)
}

// neverSent reports whether err is a failure to open the connection (refused,
// no route, no such host): the request cannot have reached Stripe.
func neverSent(err error) bool {
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return false
	}
	var opErr *net.OpError
	if errors.As(urlErr.Err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(urlErr.Err, &dnsErr)
}
