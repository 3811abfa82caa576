package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"ticketing.dev/infra/stripestandin"
)

// Without a STRIPE_KEY (and no other Stripe named), payments talks to the
// Stripe stand-in (infra/stripestandin), served by the runner itself:
// stripe-mock cannot move a PaymentIntent past requires_payment_method, so
// no payment could complete against it. The stand-in signs its webhooks
// with a secret made for this run and sends them through the gateway, as
// Stripe's would arrive through the ingress.

// webhookSecret is STRIPE_WEBHOOK_SECRET for payments: the configured one,
// or, with the stand-in, one made for this run.
func (sys *system) webhookSecret() (string, error) {
	if sys.cfg.StripeWebhookSecret != "" {
		return sys.cfg.StripeWebhookSecret, nil
	}
	if !sys.withStandIn {
		return "", errors.New("STRIPE_WEBHOOK_SECRET is not set: with a real STRIPE_KEY, run " +
			"`stripe listen --forward-to localhost:" + strconv.Itoa(sys.cfg.GatewayPort) + "/api/payments/webhook` " +
			"and set STRIPE_WEBHOOK_SECRET to the whsec_… it prints (README: Payments)")
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return "whsec_" + hex.EncodeToString(raw), nil
}

// startStandIn serves the stand-in on its port until ctx ends.
func (sys *system) startStandIn(ctx context.Context, out *logMux) error {
	host := sys.cfg.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	hook := fmt.Sprintf("http://%s/api/payments/webhook", net.JoinHostPort(host, strconv.Itoa(sys.cfg.GatewayPort)))
	standIn := stripestandin.New(stripestandin.Config{WebhookURL: hook, WebhookSecret: sys.stripeWebhookSecret})
	l, err := net.Listen("tcp", sys.local(offStripeHTTP))
	if err != nil {
		return fmt.Errorf("stripe stand-in: %w", err)
	}
	srv := &http.Server{Handler: standIn, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
		standIn.Close()
	}()
	out.say("Stripe stand-in (no STRIPE_KEY): http://%s, webhooks to %s; test cards %s, %s, %s",
		sys.local(offStripeHTTP), hook, stripestandin.CardVisa, stripestandin.CardDeclined, stripestandin.CardThreeDSecure)
	return nil
}
