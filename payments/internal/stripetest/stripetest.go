// Package stripetest is a small Stripe-shaped API server for tests, for what
// the real stripe-mock cannot show: stripe-mock is stateless and every charge
// and refund succeeds, so it can neither decline a card, fail, hang, nor count
// what it was sent. Everything else goes through stripe-mock (testenv).
//
// The server answers POST /v1/charges and POST /v1/refunds the way Stripe
// does, including its idempotency layer: the first answer for an
// Idempotency-Key is saved (500s included) and returned for every later
// request with that key, and a request whose key is still being answered gets
// 409. Tests script the answers to the next charge requests.
package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// Request is one request the server received.
type Request struct {
	Path           string
	IdempotencyKey string
	// APIKey is the secret key the request authenticated with.
	APIKey string
	Form   url.Values
	// Replayed is true when the answer was the saved one for the key.
	Replayed bool
}

// Answer is how the server answers one charge request.
type Answer struct {
	Status int
	// Error is Stripe's error object; nil answers a charge.
	Error map[string]any
	// Hold, when set, delays the answer until it is closed (or the client
	// gives up).
	Hold chan struct{}
	// NoSave answers without saving the answer for the key (as Stripe does
	// for a request that never began executing).
	NoSave bool
}

// Decline answers like Stripe for a declined card (402, card_error).
func Decline(message string) Answer {
	return Answer{Status: http.StatusPaymentRequired, Error: map[string]any{
		"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": message, "param": "",
	}}
}

// Reject answers like Stripe for an invalid request (400, invalid_request_error).
func Reject(param, message string) Answer {
	return Answer{Status: http.StatusBadRequest, Error: map[string]any{
		"type": "invalid_request_error", "code": "resource_missing", "param": param, "message": message,
	}}
}

// ServerError answers like Stripe when it failed (500, api_error); the
// answer is saved for the key, as Stripe does.
func ServerError() Answer {
	return Answer{Status: http.StatusInternalServerError, Error: map[string]any{
		"type": "api_error", "message": "An unknown error occurred",
	}}
}

// Unavailable answers like Stripe when it is overloaded (503), saving nothing.
func Unavailable() Answer {
	return Answer{Status: http.StatusServiceUnavailable, NoSave: true, Error: map[string]any{
		"type": "api_error", "message": "Stripe is temporarily unavailable",
	}}
}

// Succeed answers with a new charge (or refund).
func Succeed() Answer { return Answer{Status: http.StatusOK} }

// Held is Succeed, answered only once hold is closed.
func Held(hold chan struct{}) Answer { return Answer{Status: http.StatusOK, Hold: hold} }

// Server is the fake Stripe.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	requests []Request
	saved    map[string]reply
	running  map[string]bool
	inFlight map[string]int
	script   map[string][]Answer
	charges  int
	refunds  int
}

// reply is an answer as sent: a status and a JSON body.
type reply struct {
	status int
	body   []byte
}

// New starts a server, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{saved: map[string]reply{}, running: map[string]bool{}, inFlight: map[string]int{}, script: map[string][]Answer{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Next scripts the answers to the next charge requests, in order; after
// them, charges succeed.
func (s *Server) Next(answers ...Answer) { s.queue("/v1/charges", answers) }

// NextRefund scripts the answers to the next refund requests; an answer
// without an Error makes a refund.
func (s *Server) NextRefund(answers ...Answer) { s.queue("/v1/refunds", answers) }

func (s *Server) queue(path string, answers []Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script[path] = append(s.script[path], answers...)
}

// Requests returns the requests to path ("/v1/charges", "/v1/refunds") so far.
func (s *Server) Requests(path string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// InFlight is how many requests to path the server is answering right now
// (held ones included).
func (s *Server) InFlight(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[path]
}

// ChargesMade is how many charges the server created (replays not counted).
func (s *Server) ChargesMade() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.charges
}

// RefundsMade is how many refunds the server created (replays not counted).
func (s *Server) RefundsMade() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refunds
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), APIKey: apiKey(r), Form: r.PostForm}
	answer, early, answered := s.begin(req, r.Method)
	if answered {
		writeRaw(w, early.status, early.body)
		return
	}
	if answer.Hold != nil {
		select {
		case <-answer.Hold:
		case <-r.Context().Done():
		}
	}
	out := s.finish(req, answer)
	writeRaw(w, out.status, out.body)
}

// apiKey is the secret key a request authenticated with, as stripe-go sends
// it (basic auth, or a bearer token).
func apiKey(r *http.Request) string {
	if key, _, _ := r.BasicAuth(); key != "" {
		return key
	}
	const bearer = "Bearer "
	if h := r.Header.Get("Authorization"); len(h) > len(bearer) {
		return h[len(bearer):]
	}
	return ""
}

// begin records req and decides how it is answered: at once (answered) with
// the reply saved for its key, or 409 while that key is still being
// answered; otherwise with the next scripted answer (success when none is
// left), its key marked running until finish.
func (s *Server) begin(req Request, method string) (answer Answer, early reply, answered bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.saved[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
		req.Replayed = true
		s.requests = append(s.requests, req)
		return Answer{}, prev, true
	}
	s.requests = append(s.requests, req)
	if s.running[req.IdempotencyKey] && req.IdempotencyKey != "" {
		raw, _ := json.Marshal(map[string]any{"error": map[string]any{
			"type": "idempotency_error", "message": "There is currently another in-progress request using this Idempotent Key",
		}})
		return Answer{}, reply{http.StatusConflict, raw}, true
	}
	answer = Succeed()
	if method != http.MethodPost || (req.Path != "/v1/charges" && req.Path != "/v1/refunds") {
		answer = Answer{Status: http.StatusNotFound, NoSave: true, Error: map[string]any{"type": "invalid_request_error", "message": "Unrecognized request URL"}}
	} else if next := s.script[req.Path]; len(next) > 0 {
		answer, s.script[req.Path] = next[0], next[1:]
	}
	s.running[req.IdempotencyKey] = true
	s.inFlight[req.Path]++
	return answer, reply{}, false
}

// finish makes what answer says — a charge, a refund or an error — and
// saves the reply for req's key unless the answer says not to.
func (s *Server) finish(req Request, answer Answer) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, req.IdempotencyKey)
	s.inFlight[req.Path]--
	raw, _ := json.Marshal(s.body(req, answer))
	if !answer.NoSave && req.IdempotencyKey != "" {
		s.saved[req.IdempotencyKey] = reply{answer.Status, raw}
	}
	return reply{answer.Status, raw}
}

// body is answer's JSON body, counting the charge or refund it makes. s.mu
// is held.
func (s *Server) body(req Request, answer Answer) any {
	switch {
	case answer.Error != nil:
		return map[string]any{"error": answer.Error}
	case req.Path == "/v1/charges":
		s.charges++
		amount, _ := strconv.ParseInt(req.Form.Get("amount"), 10, 64)
		return map[string]any{
			"id": fmt.Sprintf("ch_fake_%d", s.charges), "object": "charge", "amount": amount, "currency": req.Form.Get("currency"),
			"status": "succeeded", "paid": true, "captured": true, "metadata": map[string]string{"orderId": req.Form.Get("metadata[orderId]")},
		}
	default:
		s.refunds++
		return map[string]any{"id": fmt.Sprintf("re_fake_%d", s.refunds), "object": "refund", "charge": req.Form.Get("charge"), "status": "succeeded"}
	}
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_fake")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
