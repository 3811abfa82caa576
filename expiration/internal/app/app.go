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
	"ticketing.dev/expiration/internal/store"
	"ticketing.dev/expiration/internal/worker"
)

var needs = config.Service{Name: "expiration", NATS: true}

// DefaultCheckInterval bounds how late a hold lapses (see worker.Config).
const DefaultCheckInterval = time.Second

// Config is expiration's configuration.
type Config struct {
	config.Common
	Redis *redis.Options
	// CheckInterval is EXPIRATION_CHECK_INTERVAL: how often due holds are
	// looked for.
	CheckInterval time.Duration
}

// LoadConfig reads Config from the environment.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := config.New(getenv)
	cfg := Config{
		Common:        env.LoadCommon(needs),
		CheckInterval: env.Duration("EXPIRATION_CHECK_INTERVAL", DefaultCheckInterval),
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
	a, err := Wire(deps, rdb, worker.Config{CheckInterval: cfg.CheckInterval})
	if err != nil {
		return err
	}
	return deps.Serve(ctx, cfg.Addr(), a.Handler, a.Worker.Run)
}

// App is expiration put together.
type App struct {
	// Handler serves /healthz and /readyz.
	Handler http.Handler
	Holds   *store.Holds
	// Worker lapses due holds; run it as background work.
	Worker *worker.Worker
}

// Wire subscribes the listeners on deps.Bus and builds the worker over rdb.
// Readiness checks Redis as well as the broker.
func Wire(deps *service.Deps, rdb redis.UniversalClient, cfg worker.Config) (*App, error) {
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
		Worker:  worker.New(rdb, deps.Bus, deps.Logger, cfg),
	}, nil
}
