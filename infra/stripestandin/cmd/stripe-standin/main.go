// Command stripe-standin serves the Stripe stand-in (package stripestandin)
// on its own, for a Kubernetes cluster without a Stripe account
// (infra/k8s/components/stripe-standin): payments' STRIPE_API_BASE points
// here, and the stand-in sends its signed webhooks to WEBHOOK_URL.
// stripe-mock cannot serve there: its PaymentIntents never leave
// requires_payment_method, so no purchase would complete.
//
// Environment (all required):
//
//	PORT                   the port to listen on
//	WEBHOOK_URL            where the signed events go (payments' webhook endpoint)
//	STRIPE_WEBHOOK_SECRET  what signs them; the same secret key payments verifies with
//
// GET /healthz answers 200 while the process serves. On SIGTERM or SIGINT
// it stops accepting connections, finishes the requests in flight and the
// webhook deliveries under way, and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ticketing.dev/infra/stripestandin"
)

// shutdownTimeout bounds the wait for requests in flight after SIGTERM.
const shutdownTimeout = 5 * time.Second

// config is what the command reads from its environment.
type config struct {
	Port          int
	WebhookURL    string
	WebhookSecret string
}

// loadConfig reads the configuration through getenv, naming every missing
// or invalid variable.
func loadConfig(getenv func(string) string) (config, error) {
	var problems []error
	var cfg config
	for _, name := range []string{"PORT", "WEBHOOK_URL", "STRIPE_WEBHOOK_SECRET"} {
		if getenv(name) == "" {
			problems = append(problems, fmt.Errorf("%s is not set", name))
		}
	}
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			problems = append(problems, fmt.Errorf("PORT %q is not a port number", p))
		}
		cfg.Port = n
	}
	if u := getenv("WEBHOOK_URL"); u != "" {
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			problems = append(problems, fmt.Errorf("WEBHOOK_URL %q is not an http(s) URL", u))
		}
		cfg.WebhookURL = u
	}
	cfg.WebhookSecret = getenv("STRIPE_WEBHOOK_SECRET")
	return cfg, errors.Join(problems...)
}

// handler serves the stand-in and GET /healthz.
func handler(standIn http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/", standIn)
	return mux
}

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		// One line, every problem: errors.Join puts each on its own.
		log.Fatalf("stripe-standin: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatalf("stripe-standin: %v", err)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, cfg config) error {
	standIn := stripestandin.New(stripestandin.Config{WebhookURL: cfg.WebhookURL, WebhookSecret: cfg.WebhookSecret})
	defer standIn.Close()
	l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(standIn), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Printf("stripe-standin: listening on %s, webhooks to %s", l.Addr(), cfg.WebhookURL)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Printf("stripe-standin: shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutCtx)
}
