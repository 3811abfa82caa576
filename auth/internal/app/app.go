// Package app wires auth together: configuration, storage, routes and the
// outbox relay that publishes user:created.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

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
	// Limits bounds signin attempts: api.DefaultLimits, except that
	// SIGNIN_ADDRESS_BURST and SIGNIN_ADDRESS_EVERY may change the
	// per-address limit. They exist for load benchmarks (infra/loadbench),
	// whose every request comes from one address; never set them in
	// production, where that limit is what slows down password guessing.
	Limits api.Limits
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{
		Common:     env.LoadCommon(needs),
		TrustProxy: env.Bool("TRUST_PROXY", false),
		Limits:     api.DefaultLimits,
	}
	cfg.Limits.PerIPBurst = env.Int("SIGNIN_ADDRESS_BURST", api.DefaultLimits.PerIPBurst)
	cfg.Limits.PerIPEvery = env.Duration("SIGNIN_ADDRESS_EVERY", api.DefaultLimits.PerIPEvery)
	cfg.Limits.TrustProxy = cfg.TrustProxy
	err := env.Err()
	if cfg.Limits.PerIPBurst < 1 {
		err = errors.Join(err, fmt.Errorf("SIGNIN_ADDRESS_BURST=%d must be at least 1", cfg.Limits.PerIPBurst))
	}
	return cfg, err
}

// Run starts auth and serves until ctx ends.
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
	users := store.NewUsers(deps.DB)
	deps.EnsureIndexes(users.EnsureIndexes)
	relay := outbox.NewRelay(deps.Bus, logger, users.Collection())
	hasher := user.NewHasher()
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit(hasher))
	}
	handler := Handler(deps, users, hasher, cfg.Limits, relay.Notify)
	return deps.Serve(ctx, cfg.Addr(), handler, relay.Run)
}

// MemoryLimit is the soft memory limit auth runs under when GOMEMLIMIT is not
// set (Kubernetes sets it from the container's limit): room for the rest of
// the service plus twice what the running hashes hold. Without a limit,
// resident memory reached 136-154 MiB under a stream of signins with two
// hashes at once (infra/loadbench): the heap doubles between collections, and
// the 19 MiB blocks argon2id leaves behind went back to the OS slowly. Near
// the limit the collector runs sooner and the scavenger returns memory at once.
func MemoryLimit(h *user.Hasher) int64 {
	const rest = 24 << 20
	return rest + 2*h.HashMemory()
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
