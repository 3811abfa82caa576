// Package app wires orders together: configuration, storage, routes, the
// listeners, the sweeper that settles holds an interrupted write left behind,
// and the lapse that expires overdue orders should expiration's job never
// fire; common/service starts it (see its doc for the shape every service's
// app package has).
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/config"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/ratelimit"
	"ticketing.dev/common/service"
	"ticketing.dev/orders/internal/api"
	"ticketing.dev/orders/internal/listeners"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/store"
)

// Service is orders, as main runs it and its tests start it.
var Service = service.Spec[Config, *App]{
	Needs:      config.Service{Name: "orders", Mongo: true, JWT: true, NATS: true},
	LoadConfig: LoadConfig,
	Wire:       Wire,
}

// Config is the orders configuration.
type Config struct {
	config.Common
	// ExpirationWindow is how long a reservation holds its ticket.
	ExpirationWindow time.Duration
	// ExpiryCheckInterval is how often overdue orders are lapsed, should
	// their expiration:complete never come: how late, at most, they lapse.
	ExpiryCheckInterval time.Duration
	// HoldSweepInterval is how often the sweeper settles holds that an
	// interrupted write left behind.
	HoldSweepInterval time.Duration
	// MaxOpenOrders is how many created orders one buyer may hold at once.
	MaxOpenOrders int
	// Reserving limits reservations per buyer and per address
	// (RESERVE_USER_*, RESERVE_ADDRESS_*).
	Reserving ratelimit.Limits
}

// DefaultReserving is ratelimit.DefaultRequests: with the open-order cap,
// far too few reservations to churn a sale's holds.
var DefaultReserving = ratelimit.DefaultRequests

// LoadConfig reads the settings that are this service's own.
func LoadConfig(env *config.Env, common config.Common) (Config, error) {
	cfg := Config{
		Common:              common,
		ExpirationWindow:    env.Duration("ORDER_EXPIRATION_WINDOW", order.DefaultExpirationWindow),
		ExpiryCheckInterval: env.Duration("ORDER_EXPIRY_CHECK_INTERVAL", store.DefaultExpiryCheckInterval),
		HoldSweepInterval:   env.Duration("ORDER_HOLD_SWEEP_INTERVAL", store.DefaultSweepInterval),
		MaxOpenOrders:       env.Int("MAX_OPEN_ORDERS", order.DefaultMaxOpenOrders),
	}
	reserving, err := ratelimit.LoadLimits(env, "RESERVE", DefaultReserving)
	if err != nil {
		return cfg, err
	}
	cfg.Reserving = reserving
	if cfg.MaxOpenOrders < 1 {
		return cfg, fmt.Errorf("MAX_OPEN_ORDERS must be at least 1, got %d", cfg.MaxOpenOrders)
	}
	return cfg, nil
}

// App is orders put together.
type App struct {
	service.App
	Store *store.Store
}

// Wire builds orders over deps.
func Wire(_ context.Context, deps *service.Deps, cfg Config) (*App, error) {
	st := store.New(deps.DB).WithMaxOpenOrders(cfg.MaxOpenOrders).OnLapse(func(late time.Duration) {
		deps.Metrics.HoldLapsed(metrics.LapsedByOrdersSweep, late)
	})
	reserving := ratelimit.NewGuard("reservations", cfg.Reserving, cfg.TrustProxy)
	return &App{
		Store: st,
		App: service.App{
			Routes: func(r chi.Router) {
				api.Mount(r, api.Deps{
					Orders: st, ExpirationWindow: cfg.ExpirationWindow, MaxOpenOrders: cfg.MaxOpenOrders,
					Reserving: reserving, Metrics: deps.Metrics,
				})
			},
			Indexes:       st.EnsureIndexes,
			Subscriptions: listeners.Subscriptions(st, deps.Logger),
			Outboxes:      []*outbox.Outbox{st.Outbox()},
			Background: []func(context.Context) error{
				st.Sweeper(deps.Logger, store.DefaultHoldGrace, cfg.HoldSweepInterval),
				st.Lapser(deps.Logger, cfg.ExpiryCheckInterval),
			},
		},
	}, nil
}
