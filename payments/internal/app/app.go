// Package app wires payments together: configuration, storage, the Stripe
// gateway, the route, the listeners that keep the order replica, and the
// refunder; common/service starts it (see its doc for the shape every
// service's app package has).
package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/ratelimit"
	"ticketing.dev/common/service"
	"ticketing.dev/payments/internal/api"
	"ticketing.dev/payments/internal/gateway"
	"ticketing.dev/payments/internal/listeners"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/store"
)

// Service is payments, as main runs it and its tests start it.
var Service = service.Spec[Config, *App]{
	Needs:      config.Service{Name: "payments", Mongo: true, JWT: true, NATS: true},
	LoadConfig: LoadConfig,
	Wire:       Wire,
}

// DefaultReconcileInterval is how often charges left open (an undecided
// attempt nobody holds, a refund still due) are settled when nothing wakes
// the refunder sooner (a cancellation recorded does).
const DefaultReconcileInterval = 30 * time.Second

// stripeTimeout bounds one request to Stripe (the gateway's own default,
// given here because the traced client replaces the gateway's).
const stripeTimeout = 20 * time.Second

// Config is payments' configuration.
type Config struct {
	config.Common
	StripeKey string
	// StripeWebhookSecret verifies Stripe's webhook signatures (whsec_…).
	StripeWebhookSecret string
	// Currency is what payments charges in (PAYMENT_CURRENCY, usd).
	Currency string
	// StripeAPIBase points stripe-go elsewhere (stripe-mock); empty is Stripe.
	StripeAPIBase     string
	ReconcileInterval time.Duration
	// MaxPaymentAttempts is how many declined payments an order may have.
	MaxPaymentAttempts int
	// Paying limits payment requests per buyer and per address
	// (PAY_USER_*, PAY_ADDRESS_*).
	Paying ratelimit.Limits
}

// DefaultPaying is ratelimit.DefaultRequests: a few cards and retries fit;
// a card tester's list does not, even across orders.
var DefaultPaying = ratelimit.DefaultRequests

// LoadConfig reads the settings that are this service's own.
func LoadConfig(env *config.Env, common config.Common) (Config, error) {
	cfg := Config{
		Common:              common,
		StripeKey:           env.Required("STRIPE_KEY"),
		StripeWebhookSecret: env.Required("STRIPE_WEBHOOK_SECRET"),
		Currency:            strings.ToLower(env.String("PAYMENT_CURRENCY", payment.DefaultCurrency)),
		StripeAPIBase:       env.String("STRIPE_API_BASE", ""),
		ReconcileInterval:   env.Duration("PAYMENTS_RECONCILE_INTERVAL", DefaultReconcileInterval),
		MaxPaymentAttempts:  env.Int("MAX_PAYMENT_ATTEMPTS", payment.DefaultMaxPaymentAttempts),
	}
	paying, err := ratelimit.LoadLimits(env, "PAY", DefaultPaying)
	if err != nil {
		return cfg, err
	}
	cfg.Paying = paying
	if cfg.MaxPaymentAttempts < 1 {
		return cfg, fmt.Errorf("MAX_PAYMENT_ATTEMPTS must be at least 1, got %d", cfg.MaxPaymentAttempts)
	}
	if len(cfg.Currency) != 3 {
		return cfg, fmt.Errorf("PAYMENT_CURRENCY must be a three-letter ISO currency code, got %q", cfg.Currency)
	}
	if cfg.StripeAPIBase != "" {
		if u, err := url.Parse(cfg.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("STRIPE_API_BASE=%q is not an http(s) URL", cfg.StripeAPIBase)
		}
	}
	return cfg, nil
}

// App is payments put together: what it serves, and the parts its tests
// reach for.
type App struct {
	service.App
	Payer   *payment.Payer
	Orders  *store.Orders
	Charges *store.Charges
}

// Wire builds payments over deps: the store, the Stripe gateway cfg names,
// the payer, its route and listeners, and the refunder as background work.
func Wire(_ context.Context, deps *service.Deps, cfg Config) (*App, error) {
	st := store.New(deps.DB)
	st.Charges.WithMaxDeclines(cfg.MaxPaymentAttempts)
	// Each request to Stripe is a client span of the payment's trace.
	stripeClient := deps.Tracing.Client(&http.Client{Timeout: stripeTimeout})
	gw := gateway.New(gateway.Config{Key: cfg.StripeKey, APIBase: cfg.StripeAPIBase, Logger: deps.Logger, HTTPClient: stripeClient})
	payer := payment.NewPayer(st.Orders, st.Charges, st.Events, gw, cfg.Currency, deps.Logger)
	paying := ratelimit.NewGuard("payment attempts", cfg.Paying, cfg.TrustProxy)
	// Stripe signs the webhook; no browser sends it.
	deps.ExemptFromBrowserChecks(http.MethodPost, api.WebhookPath)
	webhooks := gateway.Verifier{Secret: cfg.StripeWebhookSecret}
	return &App{
		Payer: payer, Orders: st.Orders, Charges: st.Charges,
		App: service.App{
			Routes: func(r chi.Router) {
				api.Mount(r, api.Deps{Payer: payer, Webhooks: webhooks, Paying: paying, Metrics: deps.Metrics})
			},
			Indexes:       st.EnsureIndexes,
			Subscriptions: listeners.Subscriptions(st.Orders, payer),
			Outboxes:      []*outbox.Outbox{st.Outbox()},
			Background:    []func(context.Context) error{payer.RunReconciler(cfg.ReconcileInterval)},
		},
	}, nil
}
