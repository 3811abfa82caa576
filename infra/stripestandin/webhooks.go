package stripestandin

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// APIVersion is the Stripe API version the events are shaped for (the one
// stripe-go v76 speaks).
const APIVersion = "2023-10-16"

var (
	errNotAwaiting = errors.New("no such PaymentIntent awaiting 3-D Secure")
	errNoIntent    = errors.New("no such PaymentIntent")
	errNoEvent     = errors.New("no such event")
)

// Event is one webhook event as sent: its id, type, and the signed JSON body.
type Event struct {
	ID      string
	Type    string
	Intent  string
	Payload []byte
}

// event queues a webhook event whose data.object is a copy of pi as it is
// now. s.mu is held.
func (s *Server) event(typ string, pi *intent) {
	snapshot := *pi
	s.queueEvent(typ, pi.ID, &snapshot)
}

// chargeEvent queues a charge event (charge.refunded) for pi's charge. s.mu
// is held.
func (s *Server) chargeEvent(typ string, pi *intent, refund map[string]any) {
	charge := map[string]any{"id": *pi.LatestCharge, "object": "charge", "amount": pi.Amount, "amount_refunded": pi.Amount,
		"currency": pi.Currency, "payment_intent": pi.ID, "refunded": true, "status": "succeeded", "metadata": pi.Metadata,
		"refunds": map[string]any{"object": "list", "data": []any{refund}, "has_more": false, "url": "/v1/refunds"}}
	s.queueEvent(typ, pi.ID, charge)
}

func (s *Server) queueEvent(typ, intentID string, object any) {
	id := s.id("evt")
	payload, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": APIVersion, "created": time.Now().Unix(), "livemode": false,
		"pending_webhooks": 1, "type": typ, "data": map[string]any{"object": object},
		"request": map[string]any{"id": nil, "idempotency_key": nil},
	})
	ev := Event{ID: id, Type: typ, Intent: intentID, Payload: payload}
	s.events = append(s.events, ev)
	if s.drop || s.cfg.WebhookURL == "" {
		return
	}
	s.wg.Add(1)
	go s.deliverUntilAccepted(ev, s.cfg.WebhookURL, s.cfg.WebhookSecret)
}

// DropWebhooks loses every event made from now on (true), as when the
// endpoint is unreachable for longer than Stripe retries.
func (s *Server) DropWebhooks(drop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = drop
}

// Events returns the events made so far, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Deliver sends one event now, freshly signed, and returns the endpoint's
// status: a redelivery, or a first delivery of a dropped event.
func (s *Server) Deliver(eventID string) (int, error) {
	s.mu.Lock()
	url, secret := s.cfg.WebhookURL, s.cfg.WebhookSecret
	var ev *Event
	for i := range s.events {
		if s.events[i].ID == eventID {
			ev = &s.events[i]
		}
	}
	s.mu.Unlock()
	if ev == nil {
		return 0, errNoEvent
	}
	return s.send(*ev, url, secret)
}

func (s *Server) deliverUntilAccepted(ev Event, url, secret string) {
	defer s.wg.Done()
	select {
	case <-s.closed:
		return
	case <-time.After(s.cfg.Delay):
	}
	for range 20 {
		status, err := s.send(ev, url, secret)
		if err == nil && status/100 == 2 {
			return
		}
		select {
		case <-s.closed:
			return
		case <-time.After(s.cfg.Retry):
		}
	}
}

func (s *Server) send(ev Event, url, secret string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(ev.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", Sign(ev.Payload, secret, time.Now()))
	res, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// Sign is the Stripe-Signature header Stripe sends with payload at t:
// "t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<payload>" under secret>".
func Sign(payload []byte, secret string, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", t.Unix())
	mac.Write(payload)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(mac.Sum(nil)))
}

// control serves the stand-in's own routes, for the runner's users and the
// end-to-end tests (what the cardholder or Stripe would do):
//
//	POST /_standin/payment_intents/{id}/authenticate  pass=true|false
//	POST /_standin/payment_intents/{id}/confirm       payment_method=pm_card_…
//	GET  /_standin/payment_intents?order={orderId}
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "authenticate":
		if err := s.Authenticate(parts[2], r.Form.Get("pass") != "false"); err != nil {
			writeJSON(w, http.StatusNotFound, apiError("invalid_request_error", "", "", err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": parts[2]})
	case len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "confirm":
		status, err := s.ConfirmAsBrowser(parts[2], r.Form.Get("payment_method"))
		if err != nil {
			writeJSON(w, http.StatusNotFound, apiError("invalid_request_error", "", "", err.Error()))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": parts[2], "status": status})
	case len(parts) == 2 && parts[1] == "payment_intents" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"ids": s.IntentsFor(r.Form.Get("order"))})
	default:
		writeJSON(w, http.StatusNotFound, apiError("invalid_request_error", "", "", "no such control"))
	}
}
