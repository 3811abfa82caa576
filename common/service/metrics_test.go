package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testenv"
)

// poisoned is the title of a ticket the counting service's listener always
// refuses: its event is parked at its first failure.
const poisoned = "poison"

// countingSpec is a service whose route stores a ticket:created in its
// outbox and whose own listener hears it: every counter has something to count.
func countingSpec() service.Spec[demoConfig, *demo] {
	return service.Spec[demoConfig, *demo]{
		Needs: demoNeeds,
		LoadConfig: func(_ *config.Env, common config.Common) (demoConfig, error) {
			return demoConfig{common}, nil
		},
		Wire: func(_ context.Context, deps *service.Deps, _ demoConfig) (*demo, error) {
			box := outbox.New(deps.DB.Collection("things"))
			d := &demo{}
			d.App = service.App{
				Routes: func(r chi.Router) {
					r.Post("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
						id := chi.URLParam(r, "id")
						ev, _ := outbox.NewPending(context.Background(), events.TicketCreated{ID: id, Title: r.URL.Query().Get("title"), Price: 100, UserID: "u"})
						if err := box.Mark(r.Context(), id, ev); err != nil {
							w.WriteHeader(http.StatusServiceUnavailable)
							return
						}
						if _, err := box.Collection().InsertOne(r.Context(), bson.M{"_id": id, outbox.Field: []outbox.Pending{ev}}); err != nil {
							w.WriteHeader(http.StatusServiceUnavailable)
							return
						}
						box.Queued()
						w.WriteHeader(http.StatusCreated)
					})
				},
				Outboxes: []*outbox.Outbox{box},
				Subscriptions: []bus.Subscription{bus.On(testenv.RandomName("counting"), func(_ context.Context, p events.TicketCreated) error {
					if p.Title == poisoned {
						return errors.New("this ticket is refused for good")
					}
					return nil
				}, bus.MaxDeliveries(1))},
			}
			return d, nil
		},
	}
}

// runCounting runs the counting service as main does, on its own broker so
// that nothing another test published is counted, and returns its client.
func runCounting(t *testing.T, extra map[string]string) (*apitest.Client, *testenv.Broker) {
	t.Helper()
	port, err := testenv.FreePort()
	require.NoError(t, err)
	broker := testenv.NewBroker(t)
	env := map[string]string{
		"HOST": "127.0.0.1", "PORT": fmt.Sprint(port),
		"MONGO_URI": testenv.DatabaseURI(t), "JWT_KEY": "demo-key-0123456789abcdef-0123456789",
		"NATS_URL": broker.URL, "NATS_CLUSTER_ID": testenv.ClusterID, "EVENT_BUS": broker.Transport, "NATS_CLIENT_ID": testenv.RandomName("counting"),
		"LOG_LEVEL": "error",
	}
	for k, v := range extra {
		env[k] = v
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, countingSpec().Run(ctx, func(k string) string { return env[k] }))
	}()
	t.Cleanup(func() { stop(); <-done })
	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	require.Eventually(t, func() bool {
		res, err := api.Try("GET", "/readyz", nil)
		return err == nil && res.Status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready once connected")
	return api, broker
}

func TestMetricsCountExactlyWhatHappened(t *testing.T) {
	api, _ := runCounting(t, nil)
	good, bad := testenv.RandomName("good"), testenv.RandomName("bad")
	require.Equal(t, http.StatusCreated, api.Do("POST", "/things/"+good, nil).Status)
	require.Equal(t, http.StatusCreated, api.Do("POST", "/things/"+bad+"?title="+poisoned, nil).Status)
	require.Equal(t, http.StatusMethodNotAllowed, api.Do("GET", "/things/"+good, nil).Status)
	require.Equal(t, http.StatusNotFound, api.Do("GET", "/"+good, nil).Status, "no such route")
	require.Equal(t, http.StatusNotFound, api.Do("GET", "/no/such/"+good, nil).Status)

	subject := []string{"subject", string(events.SubjectTicketCreated)}
	var s metricstest.Samples
	require.Eventually(t, func() bool {
		s = metricstest.Read(t, api)
		return s.Value(metrics.EventsHandled, subject...) == 1 && s.Value(metrics.EventsParked, subject...) == 1 &&
			s.Value(metrics.OutboxPending) == 0
	}, 20*time.Second, 20*time.Millisecond, "the good event handled, the poisoned one parked, the outbox emptied")

	assert.Equal(t, 2.0, s.Value(metrics.EventsPublished, subject...), "both events published once")
	assert.Equal(t, 0.0, s.Value(metrics.EventsRedelivered, subject...), "parked at its first failure, never redelivered")
	assert.True(t, s.Has(metrics.OutboxPending, "service", "demo"), "the backlog is read and labelled by service")
	assert.Equal(t, 0.0, s.Value(metrics.OutboxOldestAge), "nothing waits, so nothing is old")
	assert.Equal(t, 2.0, s.Value(metrics.HTTPRequests, "route", "/things/{id}", "method", "POST", "status", "201"),
		"counted by the route's pattern, never its path")
	assert.Equal(t, 2.0, s.Value(metrics.HTTPRequests, "route", "unmatched", "method", "GET", "status", "404"),
		"paths no route took are one series")
	assert.Equal(t, 1.0, s.Value(metrics.HTTPRequests, "route", "unmatched", "method", "GET", "status", "405"),
		"nor is a method the route does not take")
	assert.Equal(t, 2.0, s.Value(metrics.HTTPRequestDuration, "route", "/things/{id}", "method", "POST"))
	assert.True(t, s.Has("go_goroutines"), "the Go runtime is exported")
	assert.True(t, s.Has("process_resident_memory_bytes"), "and the process")

	metricstest.RequireBounded(t, s, []string{"/things/{id}", "/healthz", "/readyz", metrics.Path}, good, bad)
}

func TestMetricsCanBeTurnedOff(t *testing.T) {
	api, _ := runCounting(t, map[string]string{"METRICS": "off"})
	assert.Equal(t, http.StatusNotFound, api.Do("GET", metrics.Path, nil).Status, "METRICS=off serves no /metrics")
	assert.Equal(t, http.StatusCreated, api.Do("POST", "/things/"+testenv.RandomName("thing"), nil).Status, "and the service works")
}

func TestOutboxBacklogIsCountedWhileTheBrokerIsAwayAndEmptiesAfter(t *testing.T) {
	api, broker := runCounting(t, nil)
	broker.Stop(t)
	for range 2 {
		require.Equal(t, http.StatusCreated, api.Do("POST", "/things/"+testenv.RandomName("waiting"), nil).Status,
			"the write needs only the database")
	}
	var s metricstest.Samples
	require.Eventually(t, func() bool {
		s = metricstest.Read(t, api)
		return s.Value(metrics.OutboxPending) == 2 && s.Value(metrics.OutboxOldestAge) > 0
	}, 10*time.Second, 20*time.Millisecond, "both events wait, and the oldest ages")
	assert.Zero(t, s.Value(metrics.EventsPublished), "nothing reached the broker")

	broker.Start(t)
	require.Eventually(t, func() bool {
		s = metricstest.Read(t, api)
		return s.Value(metrics.OutboxPending) == 0
	}, 30*time.Second, 50*time.Millisecond, "the relay empties the outbox once the broker is back")
	assert.Equal(t, 2.0, s.Value(metrics.EventsPublished, "subject", string(events.SubjectTicketCreated)))
	assert.Zero(t, s.Value(metrics.OutboxOldestAge))
}
