// Package e2e tests the running system from the outside: it starts the local
// runner (bin/runner, as `make run` does) on ports of its own, and talks to it
// only through the gateway, as a browser, Postman or curl would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/runner/launch"
	"ticketing.dev/infra/stripestandin"
)

// system is the runner the package's tests share.
var system struct {
	baseURL string
	dataDir string
	root    string
	stripe  *stripeStandIn
	logPath string
	// otlp receives every service's spans: the runner's services export
	// to it (OTEL_EXPORTER_OTLP_ENDPOINT), as they would to a collector.
	otlp *testenv.OTLP
}

// expirationWindow is short so the expiry test is quick, and long enough for a
// purchase to finish inside it on a busy machine.
const expirationWindow = 20 * time.Second

func TestMain(m *testing.M) {
	code := func() int {
		stop, err := startSystem()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer stop()
		code := m.Run()
		if code != 0 {
			fmt.Fprintf(os.Stderr, "\n--- the runner's last output ---\n%s\n", launch.Tail(system.logPath, 20000))
		}
		return code
	}()
	testenv.StopAll()
	os.Exit(code)
}

func startSystem() (stop func(), err error) {
	root, err := launch.RepoRoot()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "e2e-data-")
	if err != nil {
		return nil, err
	}
	system.stripe = newStripeStandIn()
	if system.otlp, err = testenv.StartOTLP(); err != nil {
		return nil, err
	}
	r, err := startRunner(root, dataDir,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+system.otlp.Endpoint,
		// The SDK's batch delay (ms): spans arrive within a moment.
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"ORDER_EXPIRATION_WINDOW="+expirationWindow.String(),
		"EXPIRATION_CHECK_INTERVAL=250ms",
		"STRIPE_API_BASE="+system.stripe.URL(),
		"STRIPE_WEBHOOK_SECRET="+system.stripe.secret,
		"PAYMENTS_RECONCILE_INTERVAL=1s",
		// Every test's people sign up from the gateway's one address; the
		// per-address signup limit is auth's own tests' business.
		"SIGNUP_ADDRESS_BURST=100000", "SIGNUP_ADDRESS_EVERY=1ms",
	)
	if err != nil {
		system.stripe.Close()
		system.otlp.Close()
		os.RemoveAll(dataDir)
		return nil, err
	}
	system.baseURL, system.dataDir, system.root, system.logPath = r.BaseURL, dataDir, root, r.LogPath
	// Stripe's webhooks come in through the gateway, as through the ingress.
	system.stripe.SetWebhook(r.BaseURL+"/api/payments/webhook", system.stripe.secret)
	return func() {
		_ = r.Stop()
		system.stripe.Close()
		system.otlp.Close()
		os.RemoveAll(dataDir)
	}, nil
}

// startRunner starts bin/runner over dataDir, its output in a log file there.
func startRunner(root, dataDir string, env ...string) (*launch.Runner, error) {
	log, err := os.CreateTemp(dataDir, "runner-*.log")
	if err != nil {
		return nil, err
	}
	log.Close()
	return launch.Start(context.Background(), launch.Options{Root: root, DataDir: dataDir, Env: env, LogPath: log.Name()})
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
	u := &user{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: testenv.RandomName(name) + "@example.com",
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

// kill kills a service outright (no graceful shutdown) and waits until the
// runner has started it again.
func kill(t *testing.T, name string) {
	t.Helper()
	old, ok := launch.PIDs(system.dataDir)[name]
	if !ok {
		t.Fatalf("no pid file for %s", name)
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", name, err)
	}
	waitFor(t, name+" to be restarted", func() bool {
		n, ok := launch.PIDs(system.dataDir)[name]
		return ok && n != old
	})
}

// stripeStandIn is the Stripe payments talks to: the stand-in
// (infra/stripestandin), served by the test so it can hold a confirmation,
// pass a 3-D Secure challenge and tell what payments asked of Stripe. Its
// webhooks, signed with the secret the runner gives payments, reach payments
// through the gateway. (stripe-mock cannot: its intents never succeed.)
type stripeStandIn struct {
	*stripestandin.Server
	srv    *http.Server
	url    string
	secret string
}

func newStripeStandIn() *stripeStandIn {
	p := &stripeStandIn{Server: stripestandin.New(stripestandin.Config{Retry: 200 * time.Millisecond}),
		secret: "whsec_" + testenv.RandomName("e2e")}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	p.url = "http://" + l.Addr().String()
	p.srv = &http.Server{Handler: p.Server}
	go func() { _ = p.srv.Serve(l) }()
	return p
}

func (p *stripeStandIn) URL() string { return p.url }

func (p *stripeStandIn) Close() {
	_ = p.srv.Shutdown(context.Background())
	p.Server.Close()
}

// holdConfirmations makes confirmations wait until the returned release is
// called, then take effect.
func (p *stripeStandIn) holdConfirmations() (release func()) {
	ch := make(chan struct{})
	p.Next("/confirm", stripestandin.Fault{Hold: ch})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// seen returns the requests, as "METHOD /path form", that contain every part.
func (p *stripeStandIn) seen(parts ...string) []string {
	var out []string
next:
	for _, r := range p.Requests("/v1/") {
		line := r.Method + " " + r.Path + " " + r.Form.Encode()
		for _, part := range parts {
			if !strings.Contains(line, part) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}
