// Package servicetest starts a service for its component tests exactly as
// main does — LoadConfig, service.Open, the service's Wire, service.Start —
// over the real servers testenv runs: a fresh database, the shared broker
// (NATS Streaming, or JetStream under EVENT_BUS=jetstream), and whatever
// else the test passes in the environment. Only tests import it.
package servicetest

import (
	"context"
	"log/slog"
	"maps"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testenv"
)

// JWTKey signs the sessions of every service a test starts.
const JWTKey = "servicetest-key-0123456789abcdef-0123456789"

// Service is one running service.
type Service[A service.Wired] struct {
	// App is what the service's Wire returned.
	App  A
	Deps *service.Deps
	// API talks to the service's HTTP handler over a real connection.
	API *apitest.Client
	URL string
	// Env is the environment the service started with: start another
	// process of the same service on the same servers with Env(s.Env).
	Env   map[string]string
	Relay *outbox.Relay

	t    testing.TB
	stop func()
}

// Option adjusts how a service starts.
type Option func(*settings)

type settings struct {
	env        map[string]string
	logger     *slog.Logger
	subscribed bool
	before     []func(any)
}

// Env sets environment variables (after the defaults, so they win).
func Env(vars map[string]string) Option {
	return func(s *settings) { maps.Copy(s.env, vars) }
}

// Set sets one environment variable.
func Set(name, value string) Option { return func(s *settings) { s.env[name] = value } }

// Quiet drops the service's logs, which otherwise go to the test's log: for
// benchmarks, where logging every request would be what is measured.
func Quiet() Option { return func(s *settings) { s.logger = slog.New(slog.DiscardHandler) } }

// Unsubscribed leaves the listeners off the broker: the test delivers events
// itself (Deliver), and sees exactly what each handler returns.
func Unsubscribed() Option { return func(s *settings) { s.subscribed = false } }

// Before runs adjust on the wired App before anything runs (a clock, a
// timeout). adjust must take the service's App type.
func Before[A service.Wired](adjust func(A)) Option {
	return func(s *settings) { s.before = append(s.before, func(a any) { adjust(a.(A)) }) }
}

// Start starts spec for the test and stops it when the test ends.
func Start[C service.Configured, A service.Wired](t testing.TB, spec service.Spec[C, A], opts ...Option) *Service[A] {
	t.Helper()
	s := settings{env: map[string]string{}, logger: testenv.Logger(t), subscribed: true}
	for _, opt := range opts {
		opt(&s)
	}
	addDefaults(t, s.env, spec.Needs.Name, spec.Needs.Mongo)
	cfg, err := spec.Config(func(name string) string { return s.env[name] })
	require.NoError(t, err)
	ctx := context.Background()
	deps, err := service.Open(ctx, spec.Needs, cfg.Settings(), s.logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = deps.Close(context.Background()) })
	if deps.Bus != nil {
		require.NoError(t, deps.Bus.WaitConnected(testenv.Context(t)))
	}
	started, err := spec.Start(ctx, deps, cfg)
	require.NoError(t, err)
	for _, adjust := range s.before {
		adjust(started.App)
	}
	if s.subscribed {
		require.NoError(t, started.Subscribe())
	}
	srv := httptest.NewServer(started.Handler)
	t.Cleanup(srv.Close)
	svc := &Service[A]{
		App: started.App, Deps: deps, API: apitest.New(t, srv.URL), URL: srv.URL,
		Env: s.env, Relay: started.Relay, t: t,
		stop: testenv.Background(t, started.Background...),
	}
	svc.waitForIndexes()
	return svc
}

// addDefaults adds to env, where the test set nothing, what every service
// needs from testenv's servers: a fresh database (when it has one), the shared
// broker of the run's transport (testenv.SharedBroker), a client id of its
// own, the test session key, and cookies a plain-HTTP test server can set.
func addDefaults(t testing.TB, env map[string]string, name string, mongo bool) {
	defaults := map[string]string{
		"NATS_CLIENT_ID": testenv.RandomName(name),
		"JWT_KEY":        JWTKey,
		"COOKIE_SECURE":  "false",
		"LOG_LEVEL":      "debug",
	}
	// A test that names its broker names its transport too (Broker.Env).
	if _, set := env["NATS_URL"]; !set {
		maps.Copy(defaults, testenv.SharedBroker(t).Env())
	}
	if mongo && env["MONGO_URI"] == "" {
		defaults["MONGO_URI"] = testenv.DatabaseURI(t)
	}
	for k, v := range defaults {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
}

// waitForIndexes waits until the background index creation and the replay
// of session revocations are done, as Kubernetes waits for /readyz before
// sending requests.
func (s *Service[A]) waitForIndexes() {
	for _, name := range []string{"indexes", "revocations"} {
		check, ok := s.Deps.Checks[name]
		if !ok {
			continue
		}
		require.Eventually(s.t, func() bool { return check(context.Background()) == nil }, 30*time.Second, 10*time.Millisecond,
			"%s were not ready", name)
	}
}

// Stop ends the service's background work (relay, loops), as a process that
// died would; its HTTP handler stays up. Calling it again does nothing.
func (s *Service[A]) Stop() { s.stop() }

// Session returns a session token for userID that every started service accepts.
func (s *Service[A]) Session(userID string) string { return apitest.Session(s.t, JWTKey, userID) }

// Deliver hands p, in a fresh envelope, to the service's listener for its
// subject, and returns what the listener returned (nil means acked).
func (s *Service[A]) Deliver(p events.Payload) error {
	return s.DeliverMessage(testenv.Message(s.t, p))
}

// DeliverMessage hands m to the service's listener for its subject.
func (s *Service[A]) DeliverMessage(m bus.Message) error {
	return testenv.Deliver(s.t, s.App.Parts().Subscriptions, m)
}
