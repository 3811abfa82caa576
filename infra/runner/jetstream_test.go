package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
)

func TestEventBusIsStanUnlessTold(t *testing.T) {
	root := t.TempDir()
	load := func(env map[string]string) (config, error) {
		env["TICKETING_ROOT"] = root
		return loadConfig(func(k string) string { return env[k] })
	}
	cfg, err := load(map[string]string{})
	require.NoError(t, err)
	assert.Equal(t, bus.TransportStan, cfg.EventBus)
	cfg, err = load(map[string]string{"EVENT_BUS": "jetstream"})
	require.NoError(t, err)
	assert.True(t, cfg.jetStream())
	_, err = load(map[string]string{"EVENT_BUS": "kafka"})
	assert.ErrorContains(t, err, `EVENT_BUS="kafka" is not one of stan, jetstream`)
}

// Every service and the redrive command are told which broker they talk to.
func TestEveryServiceAndRedriveGetTheEventBus(t *testing.T) {
	for _, transport := range bus.Transports {
		t.Run(transport, func(t *testing.T) {
			sys := storeSystemOn(t, transport)
			for _, sp := range sys.services() {
				assert.Equal(t, transport, envMap(sp.Env)["EVENT_BUS"], sp.Name)
			}
			b, err := os.ReadFile(filepath.Join(sys.cfg.DataDir, "run", RedriveEnvFile))
			require.NoError(t, err)
			env := envMap(strings.Fields(string(b)))
			assert.Equal(t, transport, env["EVENT_BUS"])
			assert.Equal(t, "nats://"+sys.local(offNATS), env["NATS_URL"])
			assert.Equal(t, bus.RedriveUser, env["NATS_USER"])
			assert.Equal(t, sys.creds.NATS[bus.RedriveUser], env["NATS_PASSWORD"])
			info, err := os.Stat(filepath.Join(sys.cfg.DataDir, "run", RedriveEnvFile))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "it holds a password")
			assert.Equal(t, transport == bus.TransportStan, env["NATS_MONITOR_URL"] != "", "only NATS Streaming needs its monitoring endpoint")
		})
	}
}

// With EVENT_BUS=jetstream the runner's broker is nats-server with
// JetStream, its store in DATA_DIR/jetstream, each service its own user: a
// purchase's events reach every queue group that consumes them, and after
// the broker is stopped and started again by a new run over the same data
// folder, the stream still holds them all and each group resumes where it
// was, taking only what is new.
func TestTheRunnersJetStreamCarriesAPurchaseAcrossARestart(t *testing.T) {
	sys := storeSystemOn(t, bus.TransportJetStream)
	sup := startBroker(t, sys)
	ticket := envelope(events.SubjectTicketCreated, "ticket-1")
	purchase := []struct {
		by string
		e  events.Envelope
	}{
		{"tickets", ticket}, {"orders", envelope(events.SubjectOrderCreated, "order-1")},
		{"payments", envelope(events.SubjectPaymentCreated, "payment-1")}, {"orders", envelope(events.SubjectOrderCompleted, "order-1-completed")},
	}
	groups := consumeAsTheServices(t, sys)
	for _, p := range purchase {
		require.NoError(t, connectAs(t, sys, p.by).Publish(t.Context(), p.e), "%s publishes %s", p.by, p.e.Subject)
	}
	want := map[string][]string{
		"orders-service":     {"payment-1", "ticket-1"},
		"tickets-service":    {"order-1", "order-1-completed"},
		"payments-service":   {"order-1", "order-1-completed"},
		"expiration-service": {"order-1", "order-1-completed"},
	}
	for queue, ids := range want {
		require.Eventually(t, func() bool { return slices.Equal(groups.ids(queue), ids) }, 30*time.Second, 50*time.Millisecond,
			"%s got %v, want %v", queue, groups.ids(queue), ids)
	}
	assert.Error(t, connectAs(t, sys, "tickets").Publish(t.Context(), envelope(events.SubjectPaymentCreated, "forged")),
		"tickets may not publish payments' events")
	groups.close()
	sup.stopAll()
	entries, err := os.ReadDir(filepath.Join(sys.cfg.DataDir, "jetstream"))
	require.NoError(t, err)
	assert.NotEmpty(t, entries, "the stream is stored in the data folder")

	// A new run over the same folder: the same passwords, the same stream.
	again := &system{cfg: sys.cfg, bin: sys.bin}
	require.NoError(t, again.writeStoreConfigs())
	assert.Equal(t, sys.creds, again.creds)
	startBroker(t, again)
	var stored []string
	require.NoError(t, connectAs(t, again, bus.ObserverUser).Replay(t.Context(), time.Time{}, func(_ context.Context, m bus.Message) error {
		stored = append(stored, m.ID)
		return nil
	}, events.SubjectTicketCreated, events.SubjectOrderCreated, events.SubjectPaymentCreated, events.SubjectOrderCompleted))
	slices.Sort(stored)
	assert.Equal(t, []string{"order-1", "order-1-completed", "payment-1", "ticket-1"}, stored, "every event survived the restart")

	resumed := consumeAsTheServices(t, again)
	require.NoError(t, connectAs(t, again, "tickets").Publish(t.Context(), envelope(events.SubjectTicketUpdated, "ticket-1-updated")))
	require.Eventually(t, func() bool { return len(resumed.ids("orders-service")) > 0 }, 30*time.Second, 50*time.Millisecond)
	time.Sleep(time.Second) // time for a wrong redelivery to show
	assert.Equal(t, []string{"ticket-1-updated"}, resumed.ids("orders-service"), "orders resumes after what it had acked")
	for _, queue := range []string{"tickets-service", "payments-service", "expiration-service"} {
		assert.Empty(t, resumed.ids(queue), "%s had acked everything before the restart", queue)
	}
}

// storeSystemOn is storeSystem on the given transport.
func storeSystemOn(t *testing.T, transport string) *system {
	t.Helper()
	sys := storeSystem(t)
	sys.cfg.EventBus = transport
	require.NoError(t, sys.writeStoreConfigs())
	return sys
}

// startBroker starts the system's broker as the runner does, stopped with
// the test (or earlier, by its supervisor's stopAll).
func startBroker(t *testing.T, sys *system) *supervisor {
	t.Helper()
	logs := &lockedBuffer{}
	sup := newSupervisor(newLogMux(logs), filepath.Join(sys.cfg.DataDir, "run"), 30*time.Second)
	t.Cleanup(sup.stopAll)
	sp := sys.broker()
	var err error
	sp.Path, err = lookBinary(sys.bin, sp.Path)
	require.NoError(t, err)
	require.NoError(t, sup.start(context.Background(), sp), "the broker said: %s", logs)
	return sup
}

// connectAs connects to the system's broker as user, closed with the test.
func connectAs(t *testing.T, sys *system, user string) *bus.Client {
	t.Helper()
	c := bus.New(bus.Config{Transport: sys.cfg.EventBus, URL: "nats://" + sys.local(offNATS), ClusterID: "ticketing",
		ClientID: user + "-runner-test", User: user, Password: sys.creds.NATS[user], PubAckWait: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.WaitConnected(ctx))
	return c
}

// received is what each service's queue group received, by event id.
type received struct {
	mu      sync.Mutex
	got     map[string][]string
	clients []*bus.Client
}

// ids are the event ids queue received, sorted: subjects have no order
// between them.
func (r *received) ids(queue string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := slices.Clone(r.got[queue])
	slices.Sort(ids)
	return ids
}

func (r *received) close() {
	for _, c := range r.clients {
		_ = c.Close(context.Background())
	}
}

// consumeAsTheServices subscribes each service's queue group, as that
// service's broker user, to what the service consumes in a purchase.
func consumeAsTheServices(t *testing.T, sys *system) *received {
	t.Helper()
	r := &received{got: map[string][]string{}}
	order := []events.Subject{events.SubjectOrderCreated, events.SubjectOrderCompleted}
	for user, subjects := range map[string][]events.Subject{
		"orders":     {events.SubjectTicketCreated, events.SubjectTicketUpdated, events.SubjectPaymentCreated},
		"tickets":    order,
		"payments":   order,
		"expiration": order,
	} {
		c := connectAs(t, sys, user)
		r.clients = append(r.clients, c)
		queue := user + "-service"
		for _, s := range subjects {
			require.NoError(t, c.Subscribe(bus.Subscription{Subject: s, Queue: queue, Handler: func(_ context.Context, m bus.Message) error {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.got[queue] = append(r.got[queue], m.ID)
				return nil
			}}))
		}
	}
	return r
}

func envelope(s events.Subject, id string) events.Envelope {
	return events.Envelope{ID: id, Subject: s, OccurredAt: time.Now(), Data: []byte(`{}`)}
}
