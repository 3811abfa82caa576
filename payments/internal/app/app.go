// Package app wires payments together: configuration, storage, the Stripe
// gateway, the route, the listeners that keep the order replica, the outbox
// relay that publishes payment:created, and the reconciler.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/service"
	"ticketing.dev/payments/internal/api"
	"ticketing.dev/payments/internal/gateway"
	"ticketing.dev/payments/internal/listeners"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/store"
)

var needs = config.Service{Name: "payments", Mongo: true, JWT: true, NATS: true}

// DefaultReconcileInterval is how often charges left open (an undecided
// attempt nobody holds, a refund still due) are settled when nothing wakes
// the refunder sooner (a cancellation recorded does).
const DefaultReconcileInterval = 30 * time.Second

// Config is payments' configuration.
type Config struct {
	config.Common
	StripeKey string
	// StripeAPIBase points stripe-go elsewhere (stripe-mock); empty is Stripe.
	StripeAPIBase     string
	ReconcileInterval time.Duration
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{
		Common:            env.LoadCommon(needs),
		StripeKey:         env.Required("STRIPE_KEY"),
		StripeAPIBase:     env.String("STRIPE_API_BASE", ""),
		ReconcileInterval: env.Duration("PAYMENTS_RECONCILE_INTERVAL", DefaultReconcileInterval),
	}
	err := env.Err()
	if cfg.StripeAPIBase != "" {
		if u, parseErr := url.Parse(cfg.StripeAPIBase); parseErr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			err = errors.Join(err, fmt.Errorf("STRIPE_API_BASE=%q is not an http(s) URL", cfg.StripeAPIBase))
		}
	}
	return cfg, err
}

// Run starts payments and serves until ctx ends.
func Run(ctx context.Context, getenv func(string) string) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	logger := server.NewLogger(needs.Name, cfg.LogLevel)
	deps, err := service.Open(ctx, needs, cfg.Common, logger)
	if err != nil {
		return err
	}
	gw := gateway.New(gateway.Config{Key: cfg.StripeKey, APIBase: cfg.StripeAPIBase, Logger: logger})
	a, err := Wire(ctx, deps, gw)
	if err != nil {
		return err
	}
	return deps.Serve(ctx, cfg.Addr(), a.Handler, a.Relay.Run, a.Payer.RunReconciler(cfg.ReconcileInterval))
}

// App is payments put together. Run its Relay and the Payer's reconciler as
// background work.
type App struct {
	Handler http.Handler
	Payer   *payment.Payer
	Relay   *outbox.Relay
	Orders  *store.Orders
	Charges *store.Charges
}

// Wire builds payments over deps (database, broker, sessions) and gw, and
// subscribes its listeners.
func Wire(ctx context.Context, deps *service.Deps, gw payment.Gateway) (*App, error) {
	orders, charges := store.NewOrders(deps.DB), store.NewCharges(deps.DB)
	deps.EnsureIndexes(charges.EnsureIndexes)
	payer := payment.NewPayer(orders, charges, gw, deps.Logger)
	relay := outbox.NewRelay(deps.Bus, deps.Logger, charges.Collection())
	payer.Recorded = relay.Notify
	for _, s := range listeners.Subscriptions(orders, payer) {
		if err := deps.Bus.Subscribe(s); err != nil {
			return nil, fmt.Errorf("payments: %w", err)
		}
	}
	r := deps.Router()
	api.Mount(r, api.Deps{Payer: payer, Published: relay.Notify})
	return &App{Handler: r, Payer: payer, Relay: relay, Orders: orders, Charges: charges}, nil
}
