// Package app wires orders together: configuration, storage, routes, the
// listeners, the outbox relay that publishes order events, the sweeper that
// settles holds an interrupted write left behind, and the lapse that expires
// overdue orders should expiration's job never fire.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/service"
	"ticketing.dev/orders/internal/api"
	"ticketing.dev/orders/internal/listeners"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/store"
)

var needs = config.Service{Name: "orders", Mongo: true, JWT: true, NATS: true}

// Config is the orders configuration.
type Config struct {
	config.Common
	// ExpirationWindow is how long a reservation holds its ticket.
	ExpirationWindow time.Duration
	// ExpiryCheckInterval is how often overdue orders are lapsed, should
	// their expiration:complete never come: how late, at most, they lapse.
	ExpiryCheckInterval time.Duration
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{
		Common:              env.LoadCommon(needs),
		ExpirationWindow:    env.Duration("ORDER_EXPIRATION_WINDOW", order.DefaultExpirationWindow),
		ExpiryCheckInterval: env.Duration("ORDER_EXPIRY_CHECK_INTERVAL", store.DefaultExpiryCheckInterval),
	}
	return cfg, env.Err()
}

// Run starts orders and serves until ctx ends.
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
	st := store.New(deps.DB)
	deps.EnsureIndexes(st.EnsureIndexes)
	relay := outbox.NewRelay(deps.Bus, logger, st.Orders())
	if err := Listen(deps.Bus, st, logger, relay.Notify); err != nil {
		return err
	}
	return deps.Serve(ctx, cfg.Addr(), Handler(deps, st, cfg.ExpirationWindow, relay.Notify),
		relay.Run, st.Sweeper(logger, store.DefaultHoldGrace, store.DefaultSweepInterval),
		st.Lapser(logger, cfg.ExpiryCheckInterval, relay.Notify))
}

// Handler is the complete HTTP handler; tests serve it over real servers.
func Handler(deps *service.Deps, st *store.Store, window time.Duration, published func()) http.Handler {
	r := deps.Router()
	api.Mount(r, api.Deps{Orders: st, ExpirationWindow: window, Published: published})
	return r
}

// Listen subscribes the listeners.
func Listen(b *bus.Client, st *store.Store, logger *slog.Logger, published func()) error {
	for _, s := range listeners.Subscriptions(st, logger, published) {
		if err := b.Subscribe(s); err != nil {
			return err
		}
	}
	return nil
}
