// Package stripestandin is a Stripe stand-in for tests and for `make run`
// without a STRIPE_KEY: PaymentIntents that move through their states, test
// cards that succeed, decline or ask for 3-D Secure, refunds, and signed
// webhooks delivered to payments.
//
// Why it exists: stripe-mock, Stripe's official mock, checks every request
// against Stripe's OpenAPI description but is stateless — a PaymentIntent it
// returns never leaves requires_payment_method, no card is ever declined,
// and it sends no webhooks. What payments does with a declined card, a 3-D
// Secure challenge or a webhook cannot be shown with it. The stand-in plays
// those parts; a contract test in payments sends every request our gateway
// sends it to stripe-mock too, so the stand-in never accepts a request Stripe
// would refuse. It lives under infra/ and is never linked into a service.
// The local runner serves it in-process; cmd/stripe-standin serves it on its
// own, for a Kubernetes cluster without a Stripe account
// (infra/k8s/components/stripe-standin).
//
// Like Stripe, it saves the first answer to an Idempotency-Key (a 500
// included) and returns it for every later request with that key, and
// answers 409 while a request with that key is still running.
package stripestandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Test payment methods and tokens (the names Stripe's test mode uses).
const (
	CardVisa         = "tok_visa"
	CardDeclined     = "tok_chargeDeclined"
	CardThreeDSecure = "tok_threeDSecure2Required"
	PMVisa           = "pm_card_visa"
	PMDeclined       = "pm_card_chargeDeclined"
	PMThreeDSecure   = "pm_card_threeDSecure2Required"
)

// Config is how the stand-in reaches payments.
type Config struct {
	// WebhookURL receives the signed events; empty sends none.
	WebhookURL string
	// WebhookSecret signs them (STRIPE_WEBHOOK_SECRET, "whsec_…").
	WebhookSecret string
	// Client sends the webhooks; nil is a client with a 10 s timeout.
	Client *http.Client
	// Retry is how long after a failed delivery it is tried again (Stripe
	// retries for days); 0 is a second. Deliveries stop after 20 tries.
	Retry time.Duration
	// Delay is how long after the change an event is first sent; 0 is
	// 250 ms. Stripe's arrive later than the API's answer as a rule, not
	// always: tests that need the other order deliver by hand (Deliver).
	Delay time.Duration
}

// Request is one API request the stand-in received.
type Request struct {
	Method         string
	Path           string
	IdempotencyKey string
	Form           url.Values
	Replayed       bool
}

// Fault is a scripted answer to the next request to a path.
type Fault struct {
	// Status and Message, when Status is set, answer instead of the real
	// outcome (which then does not happen, unless Applied).
	Status  int
	Message string
	// Applied makes the request take effect before the fault answers: the
	// answer is lost, not the work.
	Applied bool
	// Hold delays the request until it is closed or the client gives up;
	// without a Status it then takes effect and is answered as usual.
	Hold chan struct{}
}

// ServerError is a 500 that Stripe saves for the idempotency key.
func ServerError(applied bool) Fault {
	return Fault{Status: http.StatusInternalServerError, Message: "An unknown error occurred", Applied: applied}
}

// Server is the stand-in. It is an http.Handler.
type Server struct {
	cfg Config

	mu       sync.Mutex
	seq      int
	intents  map[string]*intent
	methods  map[string]string // payment method id → test card
	refunds  map[string]string // payment intent → refund id
	saved    map[string]reply
	running  map[string]bool
	faults   map[string][]Fault
	requests []Request
	events   []Event
	drop     bool
	wg       sync.WaitGroup
	closed   chan struct{}
}

type reply struct {
	status int
	body   []byte
}

// New returns a stand-in that sends its webhooks as cfg says.
func New(cfg Config) *Server {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Retry == 0 {
		cfg.Retry = time.Second
	}
	if cfg.Delay == 0 {
		cfg.Delay = 250 * time.Millisecond
	}
	return &Server{cfg: cfg, intents: map[string]*intent{}, methods: map[string]string{}, refunds: map[string]string{},
		saved: map[string]reply{}, running: map[string]bool{}, faults: map[string][]Fault{}, closed: make(chan struct{})}
}

// Close stops delivering webhooks and waits for deliveries in flight.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// SetWebhook points the webhooks at url, signed with secret.
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.WebhookURL, s.cfg.WebhookSecret = url, secret
}

// Next scripts the answers to the next requests whose path contains part
// ("/v1/payment_intents", "/confirm", "/v1/refunds").
func (s *Server) Next(part string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[part] = append(s.faults[part], faults...)
}

// Requests returns every API request so far whose path starts with prefix.
func (s *Server) Requests(prefix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// IntentsCreated is how many PaymentIntents exist.
func (s *Server) IntentsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.intents)
}

// IntentsFor returns the ids of the PaymentIntents whose metadata names orderID.
func (s *Server) IntentsFor(orderID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, pi := range s.intents {
		if pi.Metadata["orderId"] == orderID {
			ids = append(ids, id)
		}
	}
	return ids
}

// RefundsMade is how many refunds exist.
func (s *Server) RefundsMade() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.refunds)
}

// ServeHTTP answers Stripe's API under /v1 and the stand-in's own controls
// under /_standin (what a cardholder or Stripe's dashboard would do).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError("invalid_request_error", "", "", err.Error()))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_standin/") {
		s.control(w, r)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: r.PostForm}
	if prev, ok := s.begin(&req); ok {
		writeRaw(w, prev)
		return
	}
	fault, _ := s.nextFault(req.Path)
	if fault.Status != 0 && fault.Applied {
		s.answer(req)
	}
	if fault.Hold != nil {
		select {
		case <-fault.Hold:
		case <-r.Context().Done():
		}
	}
	var out reply
	if fault.Status == 0 {
		out = s.answer(req)
	} else {
		raw, _ := json.Marshal(apiError("api_error", "", "", fault.Message))
		out = reply{fault.Status, raw}
	}
	s.finish(req, out)
	writeRaw(w, out)
}

// begin records req; a key already answered gets the saved answer, a key
// still running gets 409.
func (s *Server) begin(req *Request) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := req.IdempotencyKey
	if prev, ok := s.saved[key]; ok && key != "" {
		req.Replayed = true
		s.requests = append(s.requests, *req)
		return prev, true
	}
	s.requests = append(s.requests, *req)
	if key != "" && s.running[key] {
		raw, _ := json.Marshal(apiError("idempotency_error", "", "",
			"There is currently another in-progress request using this Idempotent Key"))
		return reply{http.StatusConflict, raw}, true
	}
	if key != "" {
		s.running[key] = true
	}
	return reply{}, false
}

func (s *Server) finish(req Request, out reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.IdempotencyKey == "" {
		return
	}
	delete(s.running, req.IdempotencyKey)
	// Stripe saves every answer that began executing, a 500 included, and
	// none for a request it refused at the door (401, 429, 503).
	if out.status < 500 || out.status == http.StatusInternalServerError {
		s.saved[req.IdempotencyKey] = out
	}
}

func (s *Server) nextFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for prefix, list := range s.faults {
		if strings.Contains(path, prefix) && len(list) > 0 {
			s.faults[prefix] = list[1:]
			return list[0], true
		}
	}
	return Fault{}, false
}

// answer routes one API request.
func (s *Server) answer(req Request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	var status int
	var body any
	switch {
	case strings.HasPrefix(req.Path, "/v1/payment_intents"):
		status, body = s.intentRoute(req)
	case req.Method == http.MethodPost && req.Path == "/v1/payment_methods":
		status, body = s.createMethod(req.Form)
	case req.Method == http.MethodPost && req.Path == "/v1/refunds":
		status, body = s.createRefund(req.Form)
	default:
		status, body = unrecognized(req)
	}
	raw, _ := json.Marshal(body)
	return reply{status, raw}
}

// intentRoute routes /v1/payment_intents[/{id}[/confirm|/cancel]]. s.mu is held.
func (s *Server) intentRoute(req Request) (int, any) {
	parts := strings.Split(strings.Trim(req.Path, "/"), "/")
	switch {
	case len(parts) == 2 && req.Method == http.MethodPost:
		return s.createIntent(req.Form)
	case len(parts) == 3 && req.Method == http.MethodGet:
		return s.getIntent(parts[2])
	case len(parts) == 4 && req.Method == http.MethodPost && parts[3] == "confirm":
		return s.confirmIntent(parts[2], req.Form)
	case len(parts) == 4 && req.Method == http.MethodPost && parts[3] == "cancel":
		return s.cancelIntent(parts[2])
	}
	return unrecognized(req)
}

func unrecognized(req Request) (int, any) {
	return http.StatusNotFound, apiError("invalid_request_error", "", "", "Unrecognized request URL ("+req.Method+" "+req.Path+")")
}

func (s *Server) id(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_standin%06d", prefix, s.seq)
}

func apiError(typ, code, param, message string) map[string]any {
	e := map[string]any{"type": typ, "message": message}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	return map[string]any{"error": e}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	raw, _ := json.Marshal(body)
	writeRaw(w, reply{status, raw})
}

func writeRaw(w http.ResponseWriter, r reply) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_standin")
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}
