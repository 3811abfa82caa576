// Package e2e tests the running system from the outside, only through its
// front door, as a browser, Postman or curl would. It has two modes
// (README.md says how to run each):
//
//   - runner mode, the default: the tests start the local runner
//     (bin/runner, as `make run` does) on ports of their own, serve its Stripe
//     stand-in and an OTLP receiver themselves, and some of them look inside
//     it: they kill and restart its processes, count what its Stripe
//     received, read its data folder and its spans (mode_runner_test.go and
//     every file built with !external);
//   - external mode, -tags external: the flows that need nothing but the
//     front door (flows_test.go) run against a deployment that is already
//     running, named by E2E_BASE_URL — the kind workflow's cluster behind
//     https://ticketing.dev (mode_external_test.go).
package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"ticketing.dev/common/testenv"
)

// deployment is what every flow needs of the system under test: where its
// front door is, and how to reach it.
type deployment struct {
	baseURL string
	// transport carries the people's requests; nil is Go's default (an
	// external deployment's own certificate authority sets one).
	transport http.RoundTripper
}

// user is one person with a browser-like cookie jar.
type user struct {
	t      *testing.T
	client *http.Client
	email  string
	id     string
	// traceparent, if set, goes with each request: the trace the user's
	// requests belong to, as a traced browser would send it.
	traceparent string
}

func newUser(t *testing.T, name string) *user {
	t.Helper()
	return newTracedUser(t, name, "")
}

// newTracedUser is newUser whose signup carries traceparent.
func newTracedUser(t *testing.T, name, traceparent string) *user {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: system.transport}, email: testenv.RandomName(name) + "@example.com",
		traceparent: traceparent}
	defer func() { u.traceparent = "" }()
	var body map[string]any
	u.mustDo("POST", "/api/users/signup", map[string]string{"email": u.email, "password": "password123"}, http.StatusCreated, &body)
	u.id = body["id"].(string)
	return u
}

// do sends a JSON request and decodes the answer into out (if not nil).
func (u *user) do(method, path string, body any, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, system.baseURL+path, reader)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if u.traceparent != "" {
		req.Header.Set("traceparent", u.traceparent)
	}
	res, err := u.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("decoding %s: %w", raw, err)
		}
	}
	return res.StatusCode, nil
}

func (u *user) mustDo(method, path string, body any, want int, out any) {
	u.t.Helper()
	status, err := u.do(method, path, body, out)
	if err != nil || status != want {
		u.t.Fatalf("%s %s: status %d (want %d), err %v", method, path, status, want, err)
	}
}

// eventually retries a request until it answers want: replicas learn of
// changes by events, and a restarted service takes a moment to come back.
func (u *user) eventually(method, path string, body any, want int, out any) {
	u.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var status int
	var err error
	for time.Now().Before(deadline) {
		status, err = u.do(method, path, body, out)
		if err == nil && status == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	u.t.Fatalf("%s %s: never answered %d (last: %d, %v)", method, path, want, status, err)
}

// waitFor polls cond until it holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

type ticket struct {
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Price    float64 `json:"price"`
	Version  int     `json:"version"`
	Reserved bool    `json:"reserved"`
	Sold     bool    `json:"sold"`
}

type order struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Ticket    ticket    `json:"ticket"`
}

func (u *user) list(t *testing.T, ticketID string) ticket {
	t.Helper()
	var tk ticket
	u.mustDo("POST", "/api/tickets", map[string]any{"title": ticketID, "price": 42.5}, http.StatusCreated, &tk)
	return tk
}

func forSale(u *user, id string) bool {
	var page struct {
		Tickets []ticket `json:"tickets"`
	}
	if status, err := u.do("GET", "/api/tickets?limit=100", nil, &page); err != nil || status != http.StatusOK {
		return false
	}
	for _, tk := range page.Tickets {
		if tk.ID == id {
			return true
		}
	}
	return false
}

func orderStatus(u *user, id string) string {
	var o order
	if status, err := u.do("GET", "/api/orders/"+id, nil, &o); err != nil || status != http.StatusOK {
		return ""
	}
	return o.Status
}

// newTrace makes up a trace as a traced browser would start one: a fresh
// trace id, and the span id of the browser's own span, which the services'
// server spans name as their parent.
func newTrace() (traceID, root, traceparent string) {
	id, span := make([]byte, 16), make([]byte, 8)
	_, _ = rand.Read(id)
	_, _ = rand.Read(span)
	traceID, root = hex.EncodeToString(id), hex.EncodeToString(span)
	return traceID, root, "00-" + traceID + "-" + root + "-01"
}
