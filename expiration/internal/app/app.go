// Package app wires expiration together: configuration, Redis, the listeners
// that keep one hold per open order, the worker that lapses them and the
// rebuilder that restores them; expiration has no HTTP API beyond health.
// common/service starts it (see its doc for the shape every service's app
// package has).
package app

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
	"ticketing.dev/common/service"
	"ticketing.dev/expiration/internal/listeners"
	"ticketing.dev/expiration/internal/rebuild"
	"ticketing.dev/expiration/internal/store"
	"ticketing.dev/expiration/internal/worker"
)

// Service is expiration, as main runs it and its tests start it.
var Service = service.Spec[Config, *App]{
	Needs:      config.Service{Name: "expiration", NATS: true},
	LoadConfig: LoadConfig,
	Wire:       Wire,
}

// Config is expiration's configuration.
type Config struct {
	config.Common
	// Redis is REDIS_URL's one server; nil when Sentinel is set.
	Redis *redis.Options
	// Sentinel is REDIS_SENTINELS, REDIS_MASTER_NAME and REDIS_PASSWORD:
	// a replicated Redis reached through its sentinels, which name the
	// primary and a new one after a failover; nil when unset.
	Sentinel *redis.FailoverOptions
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

// LoadConfig reads the settings that are this service's own.
func LoadConfig(env *config.Env, common config.Common) (Config, error) {
	cfg := Config{
		Common:              common,
		CheckInterval:       env.Duration("EXPIRATION_CHECK_INTERVAL", worker.DefaultCheckInterval),
		MarkerCheckInterval: env.Duration("EXPIRATION_MARKER_CHECK_INTERVAL", rebuild.DefaultCheckInterval),
		RebuildLookback:     env.Duration("EXPIRATION_REBUILD_LOOKBACK", rebuild.DefaultLookback),
	}
	sentinel, err := loadSentinel(env)
	if err != nil || sentinel != nil {
		cfg.Sentinel = sentinel
		return cfg, err
	}
	redisURL := env.Required("REDIS_URL")
	if redisURL == "" {
		return cfg, nil
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		// The parser's message may quote the URL, password included.
		return cfg, errors.New("REDIS_URL is not a redis:// URL")
	}
	cfg.Redis = opts
	return cfg, nil
}

// App is expiration put together.
type App struct {
	service.App
	Holds *store.Holds
	// Worker lapses due holds; it runs as background work.
	Worker *worker.Worker
	// Rebuilder restores the holds when Redis loses them; it runs as
	// background work.
	Rebuilder *rebuild.Rebuilder
}

// Wire opens Redis and builds the listeners, the worker and the rebuilder
// over it. Readiness checks Redis as well as the broker, and Redis closes
// after the broker, so no listener still uses it. Every scrape of /metrics
// reads Redis's memory and cap (the ExpirationRedisNearlyFull alert).
func Wire(_ context.Context, deps *service.Deps, cfg Config) (*App, error) {
	rdb := newRedis(cfg)
	deps.AddStore("redis",
		func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		func(context.Context) error { return rdb.Close() })
	deps.Metrics.WatchRedisMemory(store.Memory(rdb))
	holds := store.New(rdb)
	w := worker.New(rdb, deps.Bus, deps.Logger, worker.Config{CheckInterval: cfg.CheckInterval, Metrics: deps.Metrics, Tracing: deps.Tracing})
	rebuilder := rebuild.New(store.NewMarker(rdb), deps.Bus, holds, deps.Logger,
		rebuild.Config{CheckInterval: cfg.MarkerCheckInterval, Lookback: cfg.RebuildLookback})
	return &App{
		Holds:     holds,
		Worker:    w,
		Rebuilder: rebuilder,
		App: service.App{
			Subscriptions: listeners.Subscriptions(holds),
			Background:    []func(context.Context) error{w.Run, rebuilder.Run},
		},
	}, nil
}

// newRedis is the one client every use of Redis shares (asynq's client,
// inspector and server, the marker): through the sentinels when they are
// set, so that after a failover each of them follows the new primary.
func newRedis(cfg Config) *redis.Client {
	if cfg.Sentinel != nil {
		return redis.NewFailoverClient(cfg.Sentinel)
	}
	return redis.NewClient(cfg.Redis)
}
