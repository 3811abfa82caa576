// Package app wires tickets together: configuration, storage, routes and the
// order-event listeners; common/service starts it (see its doc for the shape
// every service's app package has).
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/tickets/internal/api"
	"ticketing.dev/tickets/internal/listeners"
	"ticketing.dev/tickets/internal/store"
)

// Service is tickets, as main runs it and its tests start it.
var Service = service.Spec[Config, *App]{
	Needs:      config.Service{Name: "tickets", Mongo: true, JWT: true, NATS: true},
	LoadConfig: LoadConfig,
	Wire:       Wire,
}

// Config is the tickets configuration.
type Config struct {
	config.Common
	// PublicReadSnapshot (PUBLIC_READ_SNAPSHOT, default 1s) is how long a
	// process answers a public read from what it read (api.Snapshots); 0
	// sends every read to the database, for a deployment that wants no
	// staleness at all and for benchmarks of the uncached path.
	PublicReadSnapshot time.Duration
}

// LoadConfig reads how long public reads are kept.
func LoadConfig(env *config.Env, common config.Common) (Config, error) {
	cfg := Config{Common: common, PublicReadSnapshot: env.DurationOrZero("PUBLIC_READ_SNAPSHOT", api.SnapshotLife)}
	if cfg.PublicReadSnapshot > api.MaxAge {
		return cfg, fmt.Errorf("PUBLIC_READ_SNAPSHOT=%s: at most %s, the max-age the answers promise", cfg.PublicReadSnapshot, api.MaxAge)
	}
	return cfg, nil
}

// App is tickets put together.
type App struct {
	service.App
	Tickets *store.Tickets
}

// Wire builds tickets over deps.
func Wire(_ context.Context, deps *service.Deps, cfg Config) (*App, error) {
	tickets := store.New(deps.DB)
	snapshots := api.NewSnapshots(cfg.PublicReadSnapshot, time.Now)
	tickets.OnChange(snapshots.Changed)
	return &App{
		Tickets: tickets,
		App: service.App{
			Routes:        func(r chi.Router) { api.Mount(r, api.Deps{Tickets: tickets, Snapshots: snapshots}) },
			Indexes:       tickets.EnsureIndexes,
			Subscriptions: listeners.Subscriptions(tickets),
			Outboxes:      []*outbox.Outbox{tickets.Outbox()},
		},
	}, nil
}
