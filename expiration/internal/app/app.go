// Package app wires expiration together: configuration, Redis, the listeners
// that keep one hold per open order, the worker that lapses them, and the
// health endpoints (expiration has no other HTTP API).
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
	"ticketing.dev/common/health"
	"ticketing.dev/common/server"
	"ticketing.dev/common/service"
	"ticketing.dev/expiration/internal/listeners"
	"ticketing.dev/expiration/internal/rebuild"
	"ticketing.dev/expiration/internal/store"
	"ticketing.dev/expiration/internal/worker"
)

var needs = config.Service{Name: "expiration", NATS: true}

// Config is expiration's configuration.
type Config struct {
	config.Common
	Redis *redis.Options
	// CheckInterval is EXPIRATION_CHECK_INTERVAL: how often due holds are
	// looked for (worker.Config).
	CheckInterval time.Duration
	// MarkerCheckInterval is EXPIRATION_MARKER_CHECK_INTERVAL: how often
	// Redis is checked for having lost the schedule (rebuild.Config).
	MarkerCheckInterval time.Duration
	// RebuildLookback is EXPIRATION_REBUILD_LOOKBACK: how much order history
	// rebuilds the schedule (rebuild.Config).
	RebuildLookback time.Duration
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{
		Common:              env.LoadCommon(needs),
		CheckInterval:       env.Duration("EXPIRATION_CHECK_INTERVAL", worker.DefaultCheckInterval),
		MarkerCheckInterval: env.Duration("EXPIRATION_MARKER_CHECK_INTERVAL", rebuild.DefaultCheckInterval),
		RebuildLookback:     env.Duration("EXPIRATION_REBUILD_LOOKBACK", rebuild.DefaultLookback),
	}
	redisURL := env.Required("REDIS_URL")
	err := env.Err()
	if redisURL != "" {
		opts, parseErr := redis.ParseURL(redisURL)
		if parseErr != nil {
			// The parser's message may quote the URL, password included.
			err = errors.Join(err, errors.New("REDIS_URL is not a redis:// URL"))
		}
		cfg.Redis = opts
	}
	return cfg, err
}

// Run starts expiration and serves until ctx ends.
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
	rdb := redis.NewClient(cfg.Redis)
	// Closed after Serve has closed the broker, so no listener still uses it.
	defer rdb.Close()
	a, err := Wire(deps, rdb, cfg)
	if err != nil {
		return err
	}
	return deps.Serve(ctx, cfg.Addr(), a.Handler, a.Worker.Run, a.Rebuilder.Run)
}

// App is expiration put together.
type App struct {
	// Handler serves /healthz and /readyz.
	Handler http.Handler
	Holds   *store.Holds
	// Worker lapses due holds; run it as background work.
	Worker *worker.Worker
	// Rebuilder restores the holds when Redis loses them; run it as
	// background work.
	Rebuilder *rebuild.Rebuilder
}

// Wire subscribes the listeners on deps.Bus and builds the worker and the
// rebuilder over rdb. Readiness checks Redis as well as the broker.
func Wire(deps *service.Deps, rdb redis.UniversalClient, cfg Config) (*App, error) {
	holds := store.NewHolds(rdb)
	if deps.Checks == nil {
		deps.Checks = map[string]health.Check{}
	}
	deps.Checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	if err := listeners.Subscribe(deps.Bus, holds); err != nil {
		return nil, fmt.Errorf("expiration: %w", err)
	}
	return &App{
		Handler: deps.Router(),
		Holds:   holds,
		Worker:  worker.New(rdb, deps.Bus, deps.Logger, worker.Config{CheckInterval: cfg.CheckInterval}),
		Rebuilder: rebuild.New(store.NewMarker(rdb), deps.Bus, holds, deps.Logger,
			rebuild.Config{CheckInterval: cfg.MarkerCheckInterval, Lookback: cfg.RebuildLookback}),
	}, nil
}
