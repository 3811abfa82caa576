// Package app wires auth together: configuration, storage and routes; the
// user:created events go out through the store's outbox. common/service
// starts it (see its doc for the shape every service's app package has).
package app

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/auth/internal/api"
	"ticketing.dev/auth/internal/store"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/config"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
)

// Service is auth, as main runs it and its tests start it.
var Service = service.Spec[Config, *App]{
	Needs:      config.Service{Name: "auth", Mongo: true, JWT: true, NATS: true},
	LoadConfig: LoadConfig,
	Wire:       Wire,
}

// Config is auth's configuration.
type Config struct {
	config.Common
	// Limits bounds signin and signup attempts: api.DefaultLimits, except
	// that SIGNIN_ADDRESS_BURST and SIGNIN_ADDRESS_EVERY may change the
	// per-address signin limit, and SIGNUP_ADDRESS_BURST and
	// SIGNUP_ADDRESS_EVERY the per-address signup limit. They exist for load
	// benchmarks (infra/loadbench), whose every request comes from one
	// address; never set them in production, where those limits are what
	// slow down password guessing and signup floods.
	Limits api.Limits
	// LimitMemory is true unless GOMEMLIMIT is set: Wire then sets
	// MemoryLimit as the process's soft memory limit.
	LimitMemory bool
	// Hasher hashes the passwords; nil is user.NewHasher(), the production
	// parameters. No variable sets it: only tests that create many users
	// choose user.NewFastHasher.
	Hasher *user.Hasher
}

// LoadConfig reads the settings that are this service's own.
func LoadConfig(env *config.Env, common config.Common) (Config, error) {
	cfg := Config{
		Common:      common,
		Limits:      api.DefaultLimits,
		LimitMemory: env.String("GOMEMLIMIT", "") == "",
	}
	cfg.Limits.PerIPBurst = env.Int("SIGNIN_ADDRESS_BURST", api.DefaultLimits.PerIPBurst)
	cfg.Limits.PerIPEvery = env.Duration("SIGNIN_ADDRESS_EVERY", api.DefaultLimits.PerIPEvery)
	cfg.Limits.SignupPerIPBurst = env.Int("SIGNUP_ADDRESS_BURST", api.DefaultLimits.SignupPerIPBurst)
	cfg.Limits.SignupPerIPEvery = env.Duration("SIGNUP_ADDRESS_EVERY", api.DefaultLimits.SignupPerIPEvery)
	cfg.Limits.TrustProxy = cfg.TrustProxy
	var errs []error
	for name, burst := range map[string]int{"SIGNIN_ADDRESS_BURST": cfg.Limits.PerIPBurst, "SIGNUP_ADDRESS_BURST": cfg.Limits.SignupPerIPBurst} {
		if burst < 1 {
			errs = append(errs, fmt.Errorf("%s=%d must be at least 1", name, burst))
		}
	}
	return cfg, errors.Join(errs...)
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

// App is auth put together.
type App struct {
	service.App
	Users *store.Users
}

// Wire builds auth over deps, and sets the memory limit its hashes need.
func Wire(_ context.Context, deps *service.Deps, cfg Config) (*App, error) {
	users := store.New(deps.DB)
	hasher := cfg.Hasher
	if hasher == nil {
		hasher = user.NewHasher()
	}
	if cfg.LimitMemory {
		debug.SetMemoryLimit(MemoryLimit(hasher))
	}
	routes := api.Deps{Users: users, Hasher: hasher, Sessions: deps.Sessions, Limits: cfg.Limits}
	return &App{
		Users: users,
		App: service.App{
			Routes:   func(r chi.Router) { api.Mount(r, routes) },
			Indexes:  users.EnsureIndexes,
			Outboxes: []*outbox.Outbox{users.Outbox()},
		},
	}, nil
}
