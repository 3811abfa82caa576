// Package app wires tickets together: configuration, storage, routes and the
// order-event listeners; common/service starts it (see its doc for the shape
// every service's app package has).
package app

import (
	"context"
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

// Config is the tickets configuration: only the common settings.
type Config struct {
	config.Common
}

// LoadConfig has nothing of tickets' own to read.
func LoadConfig(_ *config.Env, common config.Common) (Config, error) {
	return Config{Common: common}, nil
}

// App is tickets put together.
type App struct {
	service.App
	Tickets *store.Tickets
}

// Wire builds tickets over deps.
func Wire(_ context.Context, deps *service.Deps, _ Config) (*App, error) {
	tickets := store.New(deps.DB)
	snapshots := api.NewSnapshots(api.SnapshotLife, time.Now)
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
