// Package service is the wiring every service shares: it opens the database,
// the broker and the session manager a service declares it needs, creates the
// service's indexes in the background, builds the router with the standard
// middleware and health endpoints, relays the service's outboxes, and serves
// until shutdown.
//
// # The shape of a service
//
// Every service has the same folders and the same app package, so a reader
// who knows one finds their way in all five:
//
//	main.go                  func main() { server.Main("<name>", app.Service.Run) }
//	internal/app             Service, Config, LoadConfig, App, Wire — and nothing else
//	internal/api             Mount(r, Deps): decode → call the domain → respond; toHTTP maps the domain's errors
//	internal/listeners       Subscriptions(...): one bus.On per subject, delivery limits as its options
//	internal/store           New(db), EnsureIndexes, Get, Outbox: the only code that speaks MongoDB
//	internal/<domain>        the rules, with no I/O
//
// The app package declares the service as a Spec: what it needs (Needs), how
// it reads its configuration (LoadConfig) and how it is put together (Wire).
// Wire builds the stores over Deps and returns the service's App — a
// service.App (routes, indexes, subscriptions, outboxes, background loops)
// embedded in a type that also names the parts tests reach for. It starts
// nothing. Spec.Run is all of main: load, Open, Start (index creation, the
// outbox relay, the router), subscribe, Serve. The component tests start the
// service through the same Spec (common/servicetest), so what they test is
// what main runs.
//
// A store that queues an event says so on its Outbox (outbox.Outbox.Queued):
// handlers and listeners never tell the relay anything. A database outage
// answers 503 in every service (httpx.WriteError) and is retried, never
// parked, by every listener (Open's bus configuration).
//
// Every service is traced the same way (common/tracing): Open builds the
// service's tracer provider from OTEL_EXPORTER_OTLP_ENDPOINT (none when
// unset), and the router, the bus and the MongoDB client record their spans
// through it; it is flushed last at shutdown.
//
// A service that declares JWT also follows session revocations: Open gives its
// session manager a revocation set, fed by a subscription of the process's own
// and rebuilt at start by a replay that /readyz waits for (revocations.go,
// docs/sessions.md).
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/health"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/server"
	"ticketing.dev/common/session"
	"ticketing.dev/common/tracing"
)

// Deps is what the shared plumbing hands a service. Tests build it directly
// from testenv's servers.
type Deps struct {
	Name     string
	Logger   *slog.Logger
	DB       *mongo.Database  // nil unless the service declared Mongo
	Bus      *bus.Client      // nil unless the service declared NATS
	Sessions *session.Manager // nil unless the service declared JWT
	// Metrics is what the service counts for /metrics (common/metrics);
	// nil, counting nothing, when METRICS=off. Its methods take nil.
	Metrics *metrics.Set
	// Tracing records the service's spans (common/tracing); nil, recording
	// none, without OTEL_EXPORTER_OTLP_ENDPOINT. Its methods take nil.
	Tracing *tracing.Tracing
	// Checks are the readiness checks beyond the database and broker.
	Checks map[string]health.Check

	closers    []server.Closer
	background []func(context.Context) error
	browsers   middleware.Browsers
	// subscriptions are the listeners common adds to every service of a
	// kind (the revocation feed of a JWT service).
	subscriptions []bus.Subscription
}

// Open connects what needs declares. Nothing here waits for a server to
// answer: readiness reports that, and the bus keeps reconnecting.
func Open(ctx context.Context, needs config.Service, cfg config.Common, logger *slog.Logger) (*Deps, error) {
	d := &Deps{Name: needs.Name, Logger: logger, Checks: map[string]health.Check{},
		browsers: middleware.Browsers{PublicOrigins: cfg.PublicOrigins}}
	if cfg.Metrics {
		d.Metrics = metrics.New(needs.Name)
	}
	tr, err := tracing.New(ctx, needs.Name, cfg.OTLPEndpoint)
	if err != nil {
		return nil, err
	}
	d.Tracing = tr
	var revoked *session.Revocations
	if needs.JWT {
		ttl := cfg.SessionTTL
		if ttl <= 0 {
			ttl = session.DefaultTTL
		}
		revoked = session.NewRevocations()
		m, err := session.NewManager(cfg.JWTKey, cfg.CookieSecure, session.WithTTL(ttl), session.WithRevocations(revoked))
		if err != nil {
			return nil, err
		}
		d.Sessions = m
	}
	if needs.Mongo {
		client, db, err := mongox.ConnectMonitored(ctx, cfg.MongoURI, needs.Name, d.Tracing.Monitor())
		if err != nil {
			return nil, err
		}
		d.DB = db
		d.closers = append(d.closers, server.Closer{Name: "mongo", Close: client.Disconnect})
	}
	if needs.NATS {
		d.Bus = bus.New(bus.Config{
			Transport: cfg.EventBus,
			Replicas:  cfg.JetStreamReplicas,
			URL:       cfg.NATSURL,
			ClusterID: cfg.NATSClusterID,
			ClientID:  cfg.NATSClientID,
			User:      cfg.NATSUser,
			Password:  cfg.NATSPassword,
			Logger:    logger,
			// An event whose store is down waits for it, however long: only
			// a failure that a retry cannot cure may park it.
			Transient: storeUnavailable,
			Observer:  d.Metrics.Observer(),
			Tracing:   d.Tracing,
		})
		// The bus closes first: its handlers may still write to the database.
		d.closers = append([]server.Closer{{Name: "nats", Close: d.Bus.Close}}, d.closers...)
		if revoked != nil {
			d.followRevocations(revoked, cfg.NATSClientID)
		}
	}
	return d, nil
}

// storeUnavailable recognises the outages of the stores services use, beyond
// the network errors the bus knows: MongoDB's, as mongox.IsUnavailable knows
// them (a primary stepping down included), and Redis's replies that it cannot
// serve now (recognised by the RedisError marker of go-redis's errors, which
// common does not import).
func storeUnavailable(err error) bool {
	if mongox.IsUnavailable(err) {
		return true
	}
	var reply interface {
		error
		RedisError()
	}
	if !errors.As(err, &reply) {
		return false
	}
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "OOM", "NOREPLICAS"} {
		if strings.HasPrefix(reply.Error(), prefix) {
			return true
		}
	}
	return false
}

// AddCloser registers something to close at shutdown, before the broker and
// database close.
func (d *Deps) AddCloser(name string, close func(ctx context.Context) error) {
	d.closers = append([]server.Closer{{Name: name, Close: close}}, d.closers...)
}

// AddStore registers a store the service opened itself (expiration's Redis):
// readiness checks it, and it closes after the broker, as the database does,
// so no listener still uses it.
func (d *Deps) AddStore(name string, check health.Check, close func(ctx context.Context) error) {
	if d.Checks == nil {
		d.Checks = map[string]health.Check{}
	}
	d.Checks[name] = check
	d.closers = append(d.closers, server.Closer{Name: name, Close: close})
}

// Close closes what Open and AddStore opened, in shutdown order: the broker
// first, then the stores. Serve does it itself; tests that start a service
// without Serve call it.
func (d *Deps) Close(ctx context.Context) error {
	var errs []error
	for _, c := range d.shutdownOrder() {
		if err := c.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// shutdownOrder is what closes at shutdown, in order: the closers, then the
// tracing, which exports the spans they recorded while closing.
func (d *Deps) shutdownOrder() []server.Closer {
	return append(slices.Clone(d.closers), server.Closer{Name: "tracing", Close: d.Tracing.Shutdown})
}

// takeBackground hands over the background work Deps has gathered (index
// creation), once: to Start, which runs it beside the service's own.
func (d *Deps) takeBackground() []func(context.Context) error {
	bg := d.background
	d.background = nil
	return bg
}

// Index creation is retried from indexRetryFirst, doubling up to
// indexRetryMax: once the database answers again the indexes follow within
// a few seconds, and a database that stays away costs a log line per try.
const (
	indexRetryFirst = 100 * time.Millisecond
	indexRetryMax   = 5 * time.Second
)

// NotReadyIndexes is what /readyz says until the indexes exist.
const NotReadyIndexes = "indexes are not ready"

// EnsureIndexes has ensure create the service's indexes in the background
// once Serve runs, tried again with back-off until it succeeds: a service may
// start before its database, and exiting for it would only restart the
// service into the same wait. Until then /readyz answers 503 naming the
// indexes, and Kubernetes sends the pod no requests: on a fresh database the
// unique indexes some writes rely on do not exist yet (on an existing one they
// remain from the previous run). Call it before Router.
func (d *Deps) EnsureIndexes(ensure func(context.Context) error) {
	level := func(err error) slog.Level {
		if mongox.IsUnavailable(err) {
			return slog.LevelWarn
		}
		return slog.LevelError // a conflicting index needs an operator
	}
	d.startupStep("indexes", NotReadyIndexes, "creating indexes failed; trying again", retry{indexRetryFirst, indexRetryMax}, level, func(ctx context.Context) error {
		if err := ensure(ctx); err != nil {
			return err
		}
		d.Logger.Info("indexes ready")
		return nil
	})
}

// ExemptFromBrowserChecks lets one route, such as Stripe's signed webhook,
// take requests from any origin and with any content type: for a route that
// authenticates each request itself (a signature over the raw body) and that
// no browser calls. Call it before Router; sessions stay what they are.
func (d *Deps) ExemptFromBrowserChecks(method, path string) {
	d.browsers.Exempt = append(d.browsers.Exempt, method+" "+path)
}

// Router returns a chi router with the standard middleware, /healthz, /readyz,
// and unknown routes and methods answered in the common error body.
func (d *Deps) Router() chi.Router {
	r := chi.NewRouter()
	sessions := d.Sessions
	if sessions == nil {
		// A service without sessions still runs the middleware chain; no
		// cookie will ever verify against a key nobody has.
		sessions = session.Unusable()
	}
	r.Use(d.Tracing.Middleware()...)
	r.Use(d.Metrics.Middleware()...)
	r.Use(middleware.Standard(d.Logger, sessions, d.browsers)...)
	r.NotFound(httpx.NotFoundHandler)
	r.MethodNotAllowed(httpx.MethodNotAllowedHandler)
	r.Get("/healthz", health.Liveness)
	gating, degrading := d.readinessChecks()
	r.Get("/readyz", health.Readiness(d.Logger, gating, degrading))
	d.Metrics.Serve(r)
	return r
}

// readinessChecks are what /readyz runs: the database and the service's own
// checks gate it; the broker gates only a service without a database. A
// service with one writes its events to its outbox, which publishes them once
// the broker is back, so a broker outage delays events but takes no request
// down (docs/kubernetes.md, "What readiness means").
func (d *Deps) readinessChecks() (gating, degrading map[string]health.Check) {
	gating = maps.Clone(d.Checks)
	if gating == nil {
		gating = map[string]health.Check{}
	}
	degrading = map[string]health.Check{}
	if d.DB != nil {
		gating["mongo"] = mongox.Ping(d.DB)
	}
	if d.Bus != nil {
		if d.DB != nil {
			degrading["nats"] = d.Bus.Check
		} else {
			gating["nats"] = d.Bus.Check
		}
	}
	return gating, degrading
}

// Serve serves handler on addr (host:port) until ctx ends, running background work (the
// outbox relay, queue workers, index creation) alongside, then shuts everything down in order.
func (d *Deps) Serve(ctx context.Context, addr string, handler http.Handler, background ...func(context.Context) error) error {
	err := server.Serve(ctx, server.Config{
		Addr:       addr,
		Handler:    handler,
		Logger:     d.Logger,
		Background: slices.Concat(d.takeBackground(), background),
		Closers:    d.shutdownOrder(),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", d.Name, err)
	}
	return nil
}
