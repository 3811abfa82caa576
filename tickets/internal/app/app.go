// Package app wires tickets together: configuration, storage, routes, the
// order-event listeners and the outbox relay that publishes ticket events.
package app

import (
	"context"
	"net/http"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/service"
	"ticketing.dev/tickets/internal/api"
	"ticketing.dev/tickets/internal/listeners"
	"ticketing.dev/tickets/internal/store"
)

var needs = config.Service{Name: "tickets", Mongo: true, JWT: true, NATS: true}

// Config is the tickets configuration: only the common settings.
type Config struct {
	config.Common
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{Common: env.LoadCommon(needs)}
	return cfg, env.Err()
}

// Run starts tickets and serves until ctx ends.
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
	tickets := store.NewTickets(deps.DB)
	deps.EnsureIndexes(tickets.EnsureIndexes)
	relay := outbox.NewRelay(deps.Bus, logger, tickets.Collection())
	if err := Listen(deps.Bus, tickets, relay.Notify); err != nil {
		return err
	}
	return deps.Serve(ctx, cfg.Addr(), Handler(deps, tickets, relay.Notify), relay.Run)
}

// Handler is the complete HTTP handler; tests serve it over real servers.
func Handler(deps *service.Deps, tickets *store.Tickets, published func()) http.Handler {
	r := deps.Router()
	api.Mount(r, api.Deps{Tickets: tickets, Published: published})
	return r
}

// Listen subscribes the order-event listeners.
func Listen(b *bus.Client, tickets *store.Tickets, published func()) error {
	for _, s := range listeners.Subscriptions(tickets, published) {
		if err := b.Subscribe(s); err != nil {
			return err
		}
	}
	return nil
}
