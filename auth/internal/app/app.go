// Package app wires auth together: configuration, storage, routes and the
// outbox relay that publishes user:created.
package app

import (
	"context"
	"net/http"

	"ticketing.dev/auth/internal/api"
	"ticketing.dev/auth/internal/store"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/service"
)

var needs = config.Service{Name: "auth", Mongo: true, JWT: true, NATS: true}

// Config is auth's configuration.
type Config struct {
	config.Common
	TrustProxy bool
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{
		Common:     env.LoadCommon(needs),
		TrustProxy: env.Bool("TRUST_PROXY", false),
	}
	return cfg, env.Err()
}

// Run starts auth and serves until ctx ends.
func Run(ctx context.Context, getenv func(string) string) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	logger := server.NewLogger(needs.Name)
	deps, err := service.Open(ctx, needs, cfg.Common, logger)
	if err != nil {
		return err
	}
	users := store.NewUsers(deps.DB)
	if err := users.EnsureIndexes(ctx); err != nil {
		return err
	}
	relay := outbox.NewRelay(deps.Bus, logger, users.Collection())
	limits := api.DefaultLimits
	limits.TrustProxy = cfg.TrustProxy
	handler := Handler(deps, users, user.NewHasher(), limits, relay.Notify)
	return deps.Serve(ctx, cfg.Port, handler, relay.Run)
}

// Handler is auth's complete HTTP handler; tests serve it over real servers.
func Handler(deps *service.Deps, users *store.Users, hasher *user.Hasher, limits api.Limits, published func()) http.Handler {
	r := deps.Router()
	api.Mount(r, api.Deps{
		Users:     users,
		Hasher:    hasher,
		Sessions:  deps.Sessions,
		Limits:    limits,
		Published: published,
	})
	return r
}
