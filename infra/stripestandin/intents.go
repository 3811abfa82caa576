package stripestandin

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// intent is a PaymentIntent as Stripe serialises it (the fields payments
// reads, and a few a client shows).
type intent struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	Status           string            `json:"status"`
	ClientSecret     string            `json:"client_secret"`
	Metadata         map[string]string `json:"metadata"`
	PaymentMethod    *string           `json:"payment_method"`
	LatestCharge     *string           `json:"latest_charge"`
	LastPaymentError map[string]any    `json:"last_payment_error"`
	NextAction       map[string]any    `json:"next_action"`
	Created          int64             `json:"created"`
	Livemode         bool              `json:"livemode"`
}

// The test cards' behaviours.
const (
	behaveSucceed = "succeed"
	behaveDecline = "decline"
	behave3DS     = "3ds"
)

// behaviour is what a test token or payment method does on confirmation.
func behaviour(card string) (string, bool) {
	switch card {
	case CardVisa, PMVisa, "tok_mastercard", "pm_card_mastercard":
		return behaveSucceed, true
	case CardDeclined, PMDeclined, "tok_chargeDeclinedInsufficientFunds", "pm_card_chargeDeclinedInsufficientFunds":
		return behaveDecline, true
	case CardThreeDSecure, PMThreeDSecure:
		return behave3DS, true
	}
	return "", false
}

func (s *Server) createIntent(f url.Values) (int, any) {
	amount, err := strconv.ParseInt(f.Get("amount"), 10, 64)
	switch {
	case err != nil || amount <= 0:
		return http.StatusBadRequest, apiError("invalid_request_error", "parameter_invalid_integer", "amount", "Invalid positive integer")
	case f.Get("currency") == "":
		return http.StatusBadRequest, apiError("invalid_request_error", "parameter_missing", "currency", "Missing required param: currency.")
	case amount < 50:
		return http.StatusBadRequest, apiError("invalid_request_error", "amount_too_small", "amount", "Amount must be at least $0.50 usd")
	}
	meta := map[string]string{}
	for k, v := range f {
		if name, ok := strings.CutPrefix(k, "metadata["); ok {
			meta[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	id := s.id("pi")
	pi := &intent{ID: id, Object: "payment_intent", Amount: amount, Currency: f.Get("currency"), Status: "requires_payment_method",
		ClientSecret: id + "_secret_standin", Metadata: meta, Created: time.Now().Unix()}
	s.intents[id] = pi
	return http.StatusOK, pi
}

func (s *Server) getIntent(id string) (int, any) {
	pi, ok := s.intents[id]
	if !ok {
		return noSuch("intent", id)
	}
	return http.StatusOK, pi
}

func noSuch(what, id string) (int, any) {
	return http.StatusNotFound, apiError("invalid_request_error", "resource_missing", what, "No such "+what+": '"+id+"'")
}

// confirmIntent confirms with payment_method (a test payment method, or one
// made from a token): success, a decline (402, the intent back to
// requires_payment_method), or 3-D Secure (requires_action).
func (s *Server) confirmIntent(id string, f url.Values) (int, any) {
	pi, ok := s.intents[id]
	if !ok {
		return noSuch("payment_intent", id)
	}
	if pi.Status != "requires_payment_method" && pi.Status != "requires_confirmation" && pi.Status != "requires_action" {
		return http.StatusBadRequest, unexpectedState(pi)
	}
	pm := f.Get("payment_method")
	card, ok := s.methods[pm]
	if !ok {
		card = pm
	}
	behave, ok := behaviour(card)
	if !ok {
		return http.StatusBadRequest, apiError("invalid_request_error", "resource_missing", "payment_method", "No such PaymentMethod: '"+pm+"'")
	}
	pi.PaymentMethod = &pm
	pi.LastPaymentError, pi.NextAction = nil, nil
	switch behave {
	case behaveDecline:
		return s.decline(pi, "card_declined", "Your card was declined.")
	case behave3DS:
		pi.Status = "requires_action"
		pi.NextAction = map[string]any{"type": "use_stripe_sdk", "use_stripe_sdk": map[string]any{"type": "three_d_secure_redirect"}}
		s.event("payment_intent.requires_action", pi)
		return http.StatusOK, pi
	}
	s.succeed(pi)
	return http.StatusOK, pi
}

func unexpectedState(pi *intent) map[string]any {
	body := apiError("invalid_request_error", "payment_intent_unexpected_state", "",
		"This PaymentIntent's status is "+pi.Status+", which does not allow this action.")
	body["error"].(map[string]any)["payment_intent"] = pi
	return body
}

// decline is what Stripe does with a declined card: 402 card_error carrying
// the intent, which is back at requires_payment_method with the error.
func (s *Server) decline(pi *intent, code, message string) (int, any) {
	pi.Status = "requires_payment_method"
	pi.LastPaymentError = map[string]any{"type": "card_error", "code": code, "decline_code": "generic_decline", "message": message}
	s.event("payment_intent.payment_failed", pi)
	body := apiError("card_error", code, "", message)
	body["error"].(map[string]any)["decline_code"] = "generic_decline"
	body["error"].(map[string]any)["payment_intent"] = pi
	return http.StatusPaymentRequired, body
}

func (s *Server) succeed(pi *intent) {
	ch := s.id("ch")
	pi.Status, pi.LatestCharge, pi.NextAction = "succeeded", &ch, nil
	s.event("payment_intent.succeeded", pi)
}

func (s *Server) cancelIntent(id string) (int, any) {
	pi, ok := s.intents[id]
	if !ok {
		return noSuch("payment_intent", id)
	}
	if pi.Status == "succeeded" || pi.Status == "canceled" {
		return http.StatusBadRequest, unexpectedState(pi)
	}
	pi.Status, pi.NextAction = "canceled", nil
	s.event("payment_intent.canceled", pi)
	return http.StatusOK, pi
}

// createMethod makes a card payment method from a token (card[token]).
func (s *Server) createMethod(f url.Values) (int, any) {
	tok := f.Get("card[token]")
	if f.Get("type") != "card" {
		return http.StatusBadRequest, apiError("invalid_request_error", "parameter_invalid", "type", "Invalid type")
	}
	if _, ok := behaviour(tok); !ok {
		return http.StatusBadRequest, apiError("invalid_request_error", "token_invalid", "card[token]", "No such token: '"+tok+"'")
	}
	id := s.id("pm")
	s.methods[id] = tok
	return http.StatusOK, map[string]any{"id": id, "object": "payment_method", "type": "card", "livemode": false}
}

// createRefund refunds a succeeded intent in full, once.
func (s *Server) createRefund(f url.Values) (int, any) {
	id := f.Get("payment_intent")
	pi, ok := s.intents[id]
	if !ok {
		return noSuch("payment_intent", id)
	}
	if pi.Status != "succeeded" {
		return http.StatusBadRequest, apiError("invalid_request_error", "charge_not_succeeded", "payment_intent", "This PaymentIntent has no successful charge to refund.")
	}
	if _, done := s.refunds[id]; done {
		return http.StatusBadRequest, apiError("invalid_request_error", "charge_already_refunded", "", "Charge "+*pi.LatestCharge+" has already been refunded.")
	}
	re := s.id("re")
	s.refunds[id] = re
	refund := map[string]any{"id": re, "object": "refund", "amount": pi.Amount, "currency": pi.Currency,
		"charge": *pi.LatestCharge, "payment_intent": id, "status": "succeeded"}
	s.chargeEvent("charge.refunded", pi, refund)
	return http.StatusOK, refund
}

// Authenticate finishes the 3-D Secure challenge of a requires_action
// intent, as the cardholder would in their bank's window: it succeeds, or
// fails back to requires_payment_method, and the signed webhook follows.
func (s *Server) Authenticate(intentID string, pass bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.intents[intentID]
	if !ok || pi.Status != "requires_action" {
		return errNotAwaiting
	}
	if !pass {
		s.decline(pi, "payment_intent_authentication_failure", "We are unable to authenticate your payment method.")
		return nil
	}
	s.succeed(pi)
	return nil
}

// ConfirmAsBrowser confirms an intent with card, as Stripe.js in the buyer's
// browser does with the client secret (no request through payments).
func (s *Server) ConfirmAsBrowser(intentID, card string) (status string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, _ := s.confirmIntent(intentID, url.Values{"payment_method": {card}})
	pi := s.intents[intentID]
	if pi == nil {
		return "", errNoIntent
	}
	if code >= 500 {
		return pi.Status, errNoIntent
	}
	return pi.Status, nil
}
