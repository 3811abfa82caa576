package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
)

// App is what a service's Wire returns: everything the service serves. A
// service's own App type embeds it and adds the parts its tests reach for
// (its store, say); Start turns it into a handler and background work.
type App struct {
	// Routes mounts the service's API on the standard router.
	Routes func(chi.Router)
	// Indexes creates the service's indexes; Start has it retried in the
	// background until it succeeds (Deps.EnsureIndexes).
	Indexes func(context.Context) error
	// Subscriptions are the service's listeners.
	Subscriptions []bus.Subscription
	// Outboxes are the outboxes of the service's stores; one relay
	// publishes them all.
	Outboxes []*outbox.Outbox
	// Background is the service's own long-running work.
	Background []func(context.Context) error
}

// Parts returns a. Embedding App gives a service's App type this method, and
// so makes it Wired.
func (a *App) Parts() *App { return a }

// Wired is a service's App type: service.App embedded.
type Wired interface{ Parts() *App }

// Configured is a service's Config type: config.Common embedded.
type Configured interface{ Settings() config.Common }

// Spec is one service, as its app package declares it and as main and the
// component tests both start it.
type Spec[C Configured, A Wired] struct {
	// Needs names the service and what it connects to.
	Needs config.Service
	// LoadConfig reads the service's own settings from env, beside the
	// shared ones Needs asked for (common). Missing and malformed variables
	// are env's to report; it returns only the problems it finds itself.
	LoadConfig func(env *config.Env, common config.Common) (C, error)
	// Wire builds the service over deps: stores, routes, listeners,
	// background work. It starts nothing.
	Wire func(ctx context.Context, deps *Deps, cfg C) (A, error)
}

// Config reads the service's configuration from the environment, reporting
// every missing or malformed variable in one error.
func (s Spec[C, A]) Config(getenv func(string) string) (C, error) {
	env := config.New(getenv)
	cfg, err := s.LoadConfig(env, env.LoadCommon(s.Needs))
	return cfg, errors.Join(env.Err(), err)
}

// Run is the whole of a service's main: load the configuration, connect,
// wire, subscribe and serve until ctx ends.
func (s Spec[C, A]) Run(ctx context.Context, getenv func(string) string) error {
	cfg, err := s.Config(getenv)
	if err != nil {
		return err
	}
	logger := server.NewLogger(s.Needs.Name, cfg.Settings().LogLevel)
	deps, err := Open(ctx, s.Needs, cfg.Settings(), logger)
	if err != nil {
		return err
	}
	started, err := s.Start(ctx, deps, cfg)
	if err == nil {
		err = started.Subscribe()
	}
	if err != nil {
		return errors.Join(err, deps.Close(context.WithoutCancel(ctx)))
	}
	return deps.Serve(ctx, cfg.Settings().Addr(), started.Handler, started.Background...)
}

// Started is a wired service, ready to subscribe and serve.
type Started[A Wired] struct {
	App A
	// Handler is the standard router with the service's routes.
	Handler http.Handler
	// Background is everything to run beside the server: index creation,
	// the outbox relay, the service's own loops.
	Background []func(context.Context) error
	// Relay publishes the service's outboxes; nil if it has none.
	Relay *outbox.Relay

	bus    *bus.Client
	common []bus.Subscription
}

// Start wires the service over deps and assembles what it serves. It
// subscribes nothing and runs nothing: Run does both, and a test may instead
// deliver events to App.Parts().Subscriptions itself.
func (s Spec[C, A]) Start(ctx context.Context, deps *Deps, cfg C) (*Started[A], error) {
	a, err := s.Wire(ctx, deps, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Needs.Name, err)
	}
	parts := a.Parts()
	if parts.Indexes != nil {
		deps.EnsureIndexes(parts.Indexes)
	}
	r := deps.Router()
	if parts.Routes != nil {
		parts.Routes(r)
	}
	st := &Started[A]{App: a, Handler: r, bus: deps.Bus, common: deps.subscriptions}
	if len(parts.Outboxes) > 0 {
		st.Relay = outbox.NewRelay(deps.Bus, deps.Logger, parts.Outboxes...)
		deps.Metrics.WatchOutbox(st.Relay.Backlog)
		st.Background = append(st.Background, st.Relay.Run)
	}
	st.Background = slices.Concat(deps.takeBackground(), st.Background, parts.Background)
	return st, nil
}

// Subscribe subscribes the service's listeners to the broker.
func (st *Started[A]) Subscribe() error {
	for _, sub := range slices.Concat(st.common, st.App.Parts().Subscriptions) {
		if err := st.bus.Subscribe(sub); err != nil {
			return fmt.Errorf("subscribing to %s: %w", sub.Subject, err)
		}
	}
	return nil
}
