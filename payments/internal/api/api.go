// Package api serves payments' routes (DESIGN.md §2):
//
//	POST /api/payments          {orderId, token?|paymentMethod?}
//	                            201 paid; 202 {id,status,clientSecret} the buyer acts
//	                            (3-D Secure, or confirms in the browser);
//	                            429 over the paying rate limits
//	POST /api/payments/webhook  Stripe's signed events: 200 once applied,
//	                            400 bad, missing or stale signature
//
// and is the one place where payment's errors become HTTP answers.
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/ratelimit"
	"ticketing.dev/common/session"
	"ticketing.dev/payments/internal/payment"
)

// Payer pays for orders and applies Stripe's events (payment.Payer).
type Payer interface {
	Pay(ctx context.Context, userID, orderID string, m payment.Method) (payment.Payment, error)
	HandleEvent(ctx context.Context, ev payment.Event) error
}

// Webhooks verifies Stripe's signatures (gateway.Verifier).
type Webhooks interface {
	Event(payload []byte, header string) (payment.Event, error)
}

// Deps is what the handlers use.
type Deps struct {
	Payer    Payer
	Webhooks Webhooks
	// Paying limits POST /api/payments per buyer and per address; nil
	// leaves it unlimited.
	Paying *ratelimit.Guard
	// Metrics counts payment attempts by outcome; nil counts nothing.
	Metrics *metrics.Set
}

// Mount adds payments' route to r.
func Mount(r chi.Router, d Deps) {
	h := handlers{d}
	limited := r.With(middleware.RequireAuth)
	if d.Paying != nil {
		limited = limited.With(d.Paying.Limit)
	}
	limited.Post("/api/payments", httpx.Handle(h.create))
	r.Post(WebhookPath, httpx.Handle(h.webhook))
}

type handlers struct{ Deps }

// createRequest is the body of POST /api/payments. token is a legacy card
// token (tok_visa), paymentMethod a PaymentMethod (pm_…); with neither, the
// browser confirms the intent with Stripe.js.
type createRequest struct {
	OrderID       string `json:"orderId" validate:"required"`
	Token         string `json:"token" validate:"max=255"`
	PaymentMethod string `json:"paymentMethod" validate:"max=255"`
}

func (r *createRequest) Normalize() {
	r.OrderID = strings.TrimSpace(r.OrderID)
	r.Token = strings.TrimSpace(r.Token)
	r.PaymentMethod = strings.TrimSpace(r.PaymentMethod)
}

// intentResponse is an intent the buyer is to act on: 202.
type intentResponse struct {
	ID           string               `json:"id"`
	OrderID      string               `json:"orderId"`
	Status       payment.IntentStatus `json:"status"`
	ClientSecret string               `json:"clientSecret"`
	Amount       money.Price          `json:"amount"`
	Currency     string               `json:"currency"`
}

// chargeResponse is a charge as clients see it: never the card token.
type chargeResponse struct {
	ID       string         `json:"id"`
	OrderID  string         `json:"orderId"`
	Status   payment.Status `json:"status"`
	Amount   money.Price    `json:"amount"`
	Currency string         `json:"currency"`
	StripeID string         `json:"stripeId"`
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Token != "" && req.PaymentMethod != "" {
		return errs.Validation("paymentMethod", "Send a token or a paymentMethod, not both")
	}
	if _, ok := mongox.ParseID(req.OrderID); !ok {
		return errs.NotFound("Order not found")
	}
	user, _ := session.UserFrom(r.Context())
	p, err := h.Payer.Pay(r.Context(), user.ID, req.OrderID, payment.Method{Token: req.Token, PaymentMethod: req.PaymentMethod})
	h.Metrics.Payment(outcome(p, err))
	if err != nil {
		return toHTTP(err)
	}
	c := p.Charge
	if !p.Paid() {
		httpx.WriteJSON(w, http.StatusAccepted, intentResponse{
			ID: p.Intent.ID, OrderID: c.OrderID, Status: p.Intent.Status, ClientSecret: p.Intent.ClientSecret,
			Amount: c.Amount, Currency: c.Currency,
		})
		return nil
	}
	httpx.WriteJSON(w, http.StatusCreated, chargeResponse{
		ID: c.ID, OrderID: c.OrderID, Status: c.Status, Amount: c.Amount, Currency: c.Currency, StripeID: c.StripeID,
	})
	return nil
}

// toHTTP maps payment's errors to the contract's answers: the order's state,
// then what the provider said. A database outage — possibly after a charge
// whose record was lost with the connection: the attempt stays open and is
// settled from Stripe's answer to a replay — is 503 in httpx.WriteError.
func toHTTP(err error) error {
	if mapped := orderError(err); mapped != nil {
		return mapped
	}
	if mapped := providerError(err); mapped != nil {
		return mapped
	}
	return err
}

// orderError maps what the order's state says about paying for it; nil if
// err is not about that.
func orderError(err error) error {
	var late *payment.LatePaymentError
	if errors.As(err, &late) {
		if late.Refunded {
			return errs.Conflict("Order was cancelled while it was being paid; the charge has been refunded")
		}
		return errs.Conflict("Order was cancelled while it was being paid; the charge will be refunded")
	}
	if answer := orderStates.Find(err); answer != nil {
		return answer
	}
	return nil
}

// orderStates are the order's states that refuse a payment.
var orderStates = httpx.ErrorMap{
	{Err: payment.ErrOrderNotFound, Answer: errs.NotFound("Order not found")},
	{Err: payment.ErrNotOwner, Answer: errs.Forbidden("You can only pay for your own orders")},
	{Err: payment.ErrCancelled, Answer: errs.Conflict("Order is cancelled")},
	{Err: payment.ErrExpired, Answer: errs.Conflict("Order has expired")},
	{Err: payment.ErrAlreadyPaid, Answer: errs.Conflict("Order is already paid")},
	{Err: payment.ErrInProgress, Answer: errs.Conflict("A payment for this order is already in progress")},
	// Permanent for this order, so no Retry-After: cancelling it and
	// reserving again is the way on.
	{Err: payment.ErrTooManyAttempts, Answer: errs.TooManyRequests("Too many declined payments for this order")},
}

// providerError maps the provider's outcomes; nil if err is not one.
func providerError(err error) error {
	var (
		declined *payment.DeclinedError
		rejected *payment.RejectedError
	)
	switch {
	case errors.As(err, &declined):
		msg := declined.Message
		if msg == "" {
			msg = "Your card was declined."
		}
		return errs.PaymentRequired(msg)
	case errors.As(err, &rejected):
		// Only a refusal of the card token is the buyer's to read. Any other
		// invalid request is ours (a bad key, a bad parameter), and Stripe's
		// message may quote the key: it goes to the log, never to the client.
		switch rejected.Param {
		case "card[token]", "source", "card":
			return errs.Validation("token", rejected.Message)
		case "payment_method":
			return errs.Validation("paymentMethod", rejected.Message)
		}
		return fmt.Errorf("payment provider rejected our request (param %q): %s: %w", rejected.Param, rejected.Message,
			errs.BadGateway("The payment provider refused the request; you were not charged"))
	case errors.Is(err, payment.ErrNotCharged):
		return errs.ServiceUnavailable("The payment provider is unavailable; you were not charged. Please try again.")
	case errors.Is(err, payment.ErrOutcomeUnknown):
		return errs.BadGateway("The payment provider did not answer; the payment settles once it does. You will not be charged twice.")
	}
	return nil
}

// outcome names, for the metrics, how a payment attempt ended.
func outcome(p payment.Payment, err error) string {
	var (
		late     *payment.LatePaymentError
		declined *payment.DeclinedError
		rejected *payment.RejectedError
	)
	switch {
	case err == nil && !p.Paid():
		return metrics.PaymentPending
	case err == nil:
		return metrics.PaymentSucceeded
	case errors.As(err, &late):
		return metrics.PaymentLate
	case errors.As(err, &declined):
		return metrics.PaymentDeclined
	case errors.As(err, &rejected):
		return metrics.PaymentRejected
	case orderStates.Find(err) != nil:
		return metrics.PaymentRefused
	}
	return metrics.PaymentFailed
}
