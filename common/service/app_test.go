package service_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testenv"
)

// demo is the smallest service with every part a Spec assembles: a route
// whose store queues an event, an index, a listener and a background loop.
type demo struct {
	service.App
	heard   chan events.TicketCreated
	looping atomic.Bool
	// handled, if set, receives each event with the span context it was
	// handled in, instead of heard.
	handled chan handledIn
}

type handledIn struct {
	event events.TicketCreated
	span  trace.SpanContext
}

type demoConfig struct{ config.Common }

var demoNeeds = config.Service{Name: "demo", Mongo: true, JWT: true, NATS: true}

func demoSpec(d *demo) service.Spec[demoConfig, *demo] {
	return service.Spec[demoConfig, *demo]{
		Needs: demoNeeds,
		LoadConfig: func(_ *config.Env, common config.Common) (demoConfig, error) {
			return demoConfig{common}, nil
		},
		Wire: func(_ context.Context, deps *service.Deps, _ demoConfig) (*demo, error) {
			box := outbox.New(deps.DB.Collection("things"))
			// Like Stripe's webhook: called by a server, authenticated by
			// what it carries.
			deps.ExemptFromBrowserChecks(http.MethodPost, "/hook")
			d.App = service.App{
				Routes: func(r chi.Router) {
					r.Post("/hook", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
					r.Post("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
						id := chi.URLParam(r, "id")
						ev, _ := outbox.NewPending(r.Context(), events.TicketCreated{ID: id, Title: "t", Price: 100, UserID: "u"})
						_ = box.Mark(r.Context(), id, ev)
						if _, err := box.Collection().InsertOne(r.Context(), bson.M{"_id": id, outbox.Field: []outbox.Pending{ev}}); err != nil {
							w.WriteHeader(http.StatusInternalServerError)
							return
						}
						box.Queued()
						w.WriteHeader(http.StatusCreated)
					})
				},
				Indexes:       func(ctx context.Context) error { return mongox.EnsureIndexes(ctx, box.Collection(), uniqueA) },
				Outboxes:      []*outbox.Outbox{box},
				Subscriptions: []bus.Subscription{bus.On(testenv.RandomName("demo"), d.hear)},
				Background: []func(context.Context) error{func(ctx context.Context) error {
					d.looping.Store(true)
					<-ctx.Done()
					return nil
				}},
			}
			return d, nil
		},
	}
}

func (d *demo) hear(ctx context.Context, p events.TicketCreated) error {
	if d.handled != nil {
		d.handled <- handledIn{p, trace.SpanContextFromContext(ctx)}
		return nil
	}
	d.heard <- p
	return nil
}

// On either transport of the bus (EVENT_BUS), unchanged.
func TestRunServesRoutesRelaysOutboxesSubscribesAndStops(t *testing.T) {
	t.Run("stan", func(t *testing.T) {
		runServesRoutesRelaysOutboxesSubscribesAndStops(t, map[string]string{"NATS_URL": testenv.NATSURL(t)})
	})
	t.Run("jetstream", func(t *testing.T) {
		runServesRoutesRelaysOutboxesSubscribesAndStops(t, map[string]string{"NATS_URL": testenv.JetStreamURL(t), "EVENT_BUS": "jetstream"})
	})
}

func runServesRoutesRelaysOutboxesSubscribesAndStops(t *testing.T, broker map[string]string) {
	port, err := testenv.FreePort()
	require.NoError(t, err)
	env := map[string]string{
		"HOST": "127.0.0.1", "PORT": fmt.Sprint(port),
		"MONGO_URI": testenv.DatabaseURI(t), "JWT_KEY": "demo-key-0123456789abcdef-0123456789",
		"NATS_CLUSTER_ID": testenv.ClusterID, "NATS_CLIENT_ID": testenv.RandomName("demo"),
		"LOG_LEVEL": "error", "PUBLIC_ORIGINS": "https://shop.example.test",
	}
	maps.Copy(env, broker)
	d := &demo{heard: make(chan events.TicketCreated, 1)}
	api, stop, done, runErr := runDemo(t, d, port, env)

	id := testenv.RandomName("thing")
	res := api.Do("POST", "/things/"+id, nil)
	require.Equal(t, http.StatusCreated, res.Status, "the service's routes are mounted")
	select {
	case p := <-d.heard:
		assert.Equal(t, id, p.ID, "the relay published what the store queued, and the listener is subscribed")
	case <-time.After(10 * time.Second):
		t.Fatal("the queued event never reached the service's own listener")
	}
	assert.True(t, d.looping.Load(), "background work runs")
	assert.Equal(t, http.StatusNotFound, api.Do("GET", "/nothing", nil).Status, "the standard router answers unknown routes")

	from := func(origin string) apitest.Option { return apitest.Header("Origin", origin) }
	assert.Equal(t, http.StatusForbidden, api.Do("POST", "/things/"+testenv.RandomName("thing"), nil, from("https://evil.example.test")).Status,
		"PUBLIC_ORIGINS reaches the standard chain")
	assert.Equal(t, http.StatusCreated, api.Do("POST", "/things/"+testenv.RandomName("thing"), nil, from("https://shop.example.test")).Status)
	assert.Equal(t, http.StatusOK, api.Do("POST", "/hook", "raw, signed bytes", from("https://evil.example.test"),
		apitest.Header("Content-Type", "text/plain")).Status, "an exempt route takes any origin and body")

	stop()
	select {
	case <-done:
		assert.NoError(t, *runErr)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// runDemo runs d's service on port with env until the test ends, and waits
// until it is ready. stop ends it early; done closes once Run returned what
// runErr then holds.
func runDemo(t *testing.T, d *demo, port int, env map[string]string) (api *apitest.Client, stop func(), done chan struct{}, runErr *error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	runErr = new(error)
	done = make(chan struct{})
	go func() { defer close(done); *runErr = demoSpec(d).Run(ctx, func(k string) string { return env[k] }) }()
	t.Cleanup(func() { stop(); <-done })
	api = apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	require.Eventually(t, func() bool {
		res, err := api.Try("GET", "/readyz", nil)
		return err == nil && res.Status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready once connected and indexed")
	return api, stop, done, runErr
}

func TestWireFailingStopsRunWithTheServiceNamed(t *testing.T) {
	spec := demoSpec(&demo{})
	spec.Wire = func(context.Context, *service.Deps, demoConfig) (*demo, error) {
		return nil, fmt.Errorf("no stripe key")
	}
	env := map[string]string{
		"MONGO_URI": testenv.DatabaseURI(t), "JWT_KEY": "demo-key-0123456789abcdef-0123456789",
		"NATS_URL": testenv.SharedBroker(t).URL, "EVENT_BUS": testenv.BusTransport(), "NATS_CLIENT_ID": testenv.RandomName("demo"), "LOG_LEVEL": "error",
	}
	err := spec.Run(context.Background(), func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "demo: no stripe key")
}

func TestRunRefusesMissingConfigurationBeforeConnecting(t *testing.T) {
	err := demoSpec(&demo{}).Run(context.Background(), func(string) string { return "" })
	require.Error(t, err)
	for _, name := range []string{"MONGO_URI", "JWT_KEY", "NATS_URL"} {
		assert.Contains(t, err.Error(), name)
	}
}
