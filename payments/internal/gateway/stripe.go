// Package gateway creates, confirms, retrieves and cancels PaymentIntents and
// refunds them through Stripe (stripe-go), and sorts Stripe's answers into
// payment's outcomes: declined, rejected, not done, or not known yet.
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
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/paymentmethod"
	"github.com/stripe/stripe-go/v76/refund"

	"ticketing.dev/payments/internal/payment"
)

// Config says how to reach Stripe.
type Config struct {
	// Key is the secret API key (STRIPE_KEY).
	Key string
	// APIBase replaces Stripe's API address (STRIPE_API_BASE: stripe-mock,
	// or the stand-in).
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
	intents paymentintent.Client
	methods paymentmethod.Client
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
		// No retries inside stripe-go: an outcome left open is learned by
		// retrieving the intent, and a refused connection then reliably
		// means this one request never reached Stripe.
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(cfg.APIBase)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	return &Stripe{
		intents: paymentintent.Client{B: backend, Key: cfg.Key},
		methods: paymentmethod.Client{B: backend, Key: cfg.Key},
		refunds: refund.Client{B: backend, Key: cfg.Key},
		log:     cfg.Logger.With("component", "stripe"),
	}
}

// CreateIntent implements payment.Gateway: amount in integer cents, card
// only (so a server-side confirmation needs no return_url), the order id in
// metadata, under the attempt's idempotency key. It is not confirmed.
func (s *Stripe) CreateIntent(ctx context.Context, req payment.IntentRequest) (payment.Intent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:             stripe.Int64(req.Amount.Cents()),
		Currency:           stripe.String(req.Currency),
		PaymentMethodTypes: []*string{stripe.String("card")},
		Description:        stripe.String("Ticketing order " + req.OrderID),
	}
	params.Context = ctx
	params.SetIdempotencyKey(req.IdempotencyKey)
	params.AddMetadata("orderId", req.OrderID)
	pi, err := s.intents.New(params)
	if err != nil {
		return payment.Intent{}, s.outcome("create intent", req.OrderID, err)
	}
	return Intent(pi), nil
}

// ConfirmIntent implements payment.Gateway. A legacy card token becomes a
// PaymentMethod first (POST /v1/payment_methods card[token]), under a key of
// its own derived from the confirmation's.
func (s *Stripe) ConfirmIntent(ctx context.Context, intentID string, m payment.Method, key string) (payment.Intent, error) {
	pm := m.PaymentMethod
	if pm == "" {
		params := &stripe.PaymentMethodParams{Type: stripe.String("card"), Card: &stripe.PaymentMethodCardParams{Token: stripe.String(m.Token)}}
		params.Context = ctx
		params.SetIdempotencyKey("pm-" + key)
		made, err := s.methods.New(params)
		if err != nil {
			return payment.Intent{}, s.outcome("payment method", intentID, err)
		}
		pm = made.ID
	}
	params := &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String(pm)}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	pi, err := s.intents.Confirm(intentID, params)
	if err != nil {
		return payment.Intent{}, s.outcome("confirm", intentID, err)
	}
	return Intent(pi), nil
}

// GetIntent implements payment.Gateway.
func (s *Stripe) GetIntent(ctx context.Context, intentID string) (payment.Intent, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := s.intents.Get(intentID, params)
	if err != nil {
		return payment.Intent{}, s.outcome("retrieve", intentID, err)
	}
	return Intent(pi), nil
}

// CancelIntent implements payment.Gateway.
func (s *Stripe) CancelIntent(ctx context.Context, intentID, key string) (payment.Intent, error) {
	params := &stripe.PaymentIntentCancelParams{CancellationReason: stripe.String(string(stripe.PaymentIntentCancellationReasonAbandoned))}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	pi, err := s.intents.Cancel(intentID, params)
	if err != nil {
		return payment.Intent{}, s.outcome("cancel", intentID, err)
	}
	return Intent(pi), nil
}

// Refund implements payment.Gateway: a full refund of the intent's charge.
func (s *Stripe) Refund(ctx context.Context, idempotencyKey, intentID string) (string, error) {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(intentID), Reason: stripe.String(string(stripe.RefundReasonRequestedByCustomer))}
	params.Context = ctx
	params.SetIdempotencyKey(idempotencyKey)
	r, err := s.refunds.New(params)
	if err != nil {
		return "", s.outcome("refund", intentID, err)
	}
	return r.ID, nil
}

// Intent is pi as payment sees it.
func Intent(pi *stripe.PaymentIntent) payment.Intent {
	in := payment.Intent{ID: pi.ID, Status: payment.IntentStatus(pi.Status), ClientSecret: pi.ClientSecret,
		Amount: pi.Amount, Currency: string(pi.Currency), OrderID: pi.Metadata["orderId"]}
	if e := pi.LastPaymentError; e != nil && pi.Status == stripe.PaymentIntentStatusRequiresPaymentMethod {
		in.DeclineMessage = e.Msg
	}
	return in
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
