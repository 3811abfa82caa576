//go:build !external

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
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

// system is the runner the package's tests share (runner mode).
var system struct {
	deployment
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

// startRunner starts bin/runner over dataDir, its output in a log file
// there, on the event bus EVENT_BUS names (eventBus).
func startRunner(root, dataDir string, env ...string) (*launch.Runner, error) {
	log, err := os.CreateTemp(dataDir, "runner-*.log")
	if err != nil {
		return nil, err
	}
	log.Close()
	env = append([]string{"EVENT_BUS=" + testenv.BusTransport()}, env...)
	return launch.Start(context.Background(), launch.Options{Root: root, DataDir: dataDir, Env: env, LogPath: log.Name()})
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

// untilLapse is the longest a hold placed just now can last: the window the
// runner was given.
func untilLapse(order) time.Duration { return expirationWindow }

// checkOnePaymentIntent: the runner's Stripe stand-in, which records every
// request, received exactly one PaymentIntent create of the ticket's price for
// the order, and the charge is that intent.
func checkOnePaymentIntent(t *testing.T, o order, charge map[string]any) {
	t.Helper()
	intents := system.stripe.seen("POST /v1/payment_intents ", "amount=4250", "metadata%5BorderId%5D="+o.ID)
	if len(intents) != 1 {
		t.Fatalf("want exactly one PaymentIntent of 4250 cents at Stripe, saw %d: %v", len(intents), intents)
	}
	if charge["stripeId"] != system.stripe.IntentsFor(o.ID)[0] {
		t.Fatalf("paid by %v, want the order's PaymentIntent", charge["stripeId"])
	}
}
