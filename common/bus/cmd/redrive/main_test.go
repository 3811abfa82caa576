package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// consumer is a queue group whose handler fails until fixed, with
// MaxDeliveries 1 so its first failure parks the event.
type consumer struct {
	queue string
	fixed atomic.Bool
	mu    sync.Mutex
	got   []string
}

func subscribe(t *testing.T, c *bus.Client, subject events.Subject) *consumer {
	t.Helper()
	return subscribeAs(t, c, subject, testenv.RandomName("q"))
}

func subscribeAs(t *testing.T, c *bus.Client, subject events.Subject, queue string) *consumer {
	t.Helper()
	k := &consumer{queue: queue}
	require.NoError(t, c.Subscribe(bus.Subscription{Subject: subject, Queue: k.queue, AckWait: time.Second, MaxDeliveries: 1,
		Handler: func(_ context.Context, m bus.Message) error {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.got = append(k.got, m.ID)
			if !k.fixed.Load() {
				return errors.New("a bug, since fixed")
			}
			return nil
		}}))
	return k
}

func (k *consumer) count(id string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, got := range k.got {
		if got == id {
			n++
		}
	}
	return n
}

func publish(t *testing.T, c *bus.Client, subject events.Subject) events.Envelope {
	t.Helper()
	e, err := events.New(events.TicketCreated{ID: "t1", Title: "Front row", Price: 2050, UserID: "u1"})
	require.NoError(t, err)
	e.Subject = subject
	require.NoError(t, c.Publish(testenv.Context(t), e))
	return e
}

// parkOne parks one event for a fresh queue group on the broker at env's
// NATS_URL and returns both.
func parkOne(t *testing.T, env map[string]string) (*consumer, events.Envelope) {
	t.Helper()
	cfg := testenv.BusConfig(env["NATS_URL"])
	cfg.Transport = env["EVENT_BUS"]
	c := testenv.ConnectBus(t, cfg)
	subject := events.Subject(testenv.RandomName("subject"))
	k := subscribe(t, c, subject)
	e := publish(t, c, subject)
	require.Eventually(t, func() bool { return k.count(e.ID) == 1 }, testenv.Wait, testenv.Tick)
	return k, e
}

func redrive(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(testenv.Context(t), args, func(k string) string { return env[k] }, &out, &errs)
	t.Log(errs.String())
	return out.String(), err
}

// forEachTransport runs test against each transport's broker, given as the
// environment redrive reads.
func forEachTransport(t *testing.T, test func(t *testing.T, env map[string]string)) {
	t.Run("stan", func(t *testing.T) { test(t, map[string]string{"NATS_URL": testenv.NATSURL(t)}) })
	t.Run("jetstream", func(t *testing.T) {
		test(t, map[string]string{"NATS_URL": testenv.JetStreamURL(t), "EVENT_BUS": bus.TransportJetStream})
	})
}

func TestRedriveOneQueue(t *testing.T) {
	forEachTransport(t, testRedriveOneQueue)
}

func testRedriveOneQueue(t *testing.T, env map[string]string) {
	k, e := parkOne(t, env)
	k.fixed.Store(true)

	var out string
	require.Eventually(t, func() bool {
		// The parking publish may still be on its way.
		var err error
		out, err = redrive(t, env, "-queue", k.queue)
		return assert.NoError(t, err) && out != fmt.Sprintf("parked.%s: republished 0, skipped 0\n", k.queue)
	}, testenv.Wait, 100*time.Millisecond)
	assert.Equal(t, fmt.Sprintf("parked.%s: republished 1, skipped 0\n", k.queue), out)
	require.Eventually(t, func() bool { return k.count(e.ID) == 2 }, testenv.Wait, testenv.Tick, "the consumer gets the event again")

	out, err := redrive(t, env, "-queue", k.queue)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("parked.%s: republished 0, skipped 0\n", k.queue), out, "running it twice re-drives nothing twice")
}

func TestRedriveEveryParkedChannel(t *testing.T) {
	t.Run("stan", func(t *testing.T) {
		nats, monitor := testenv.NewMonitoredNATS(t)
		redriveEveryParkedChannel(t, map[string]string{"NATS_URL": nats.URL, "NATS_MONITOR_URL": monitor})
	})
	t.Run("jetstream", func(t *testing.T) {
		// JetStream lists its subjects itself: no monitoring endpoint.
		js := testenv.NewJetStream(t)
		redriveEveryParkedChannel(t, map[string]string{"NATS_URL": js.URL, "EVENT_BUS": bus.TransportJetStream})
	})
}

func redriveEveryParkedChannel(t *testing.T, env map[string]string) {
	a, ea := parkOne(t, env)
	b, eb := parkOne(t, env)
	a.fixed.Store(true)
	b.fixed.Store(true)

	var out string
	require.Eventually(t, func() bool {
		var err error
		out, err = redrive(t, env)
		return assert.NoError(t, err) && a.count(ea.ID) == 2 && b.count(eb.ID) == 2
	}, testenv.Wait, 500*time.Millisecond, "both parked events come back")
	lines := bytes.Split(bytes.TrimSpace([]byte(out)), []byte("\n"))
	assert.Len(t, lines, 2, "one line per parked channel: %s", out)
	assert.True(t, slices.ContainsFunc(lines, func(l []byte) bool { return bytes.HasPrefix(l, []byte("parked."+a.queue+":")) }), out)
}

func TestRedriveNeedsABrokerAndAQueueOrTheMonitor(t *testing.T) {
	_, err := redrive(t, map[string]string{}, "-queue", "q")
	assert.ErrorContains(t, err, "NATS_URL")
	_, err = redrive(t, map[string]string{"NATS_URL": "nats://127.0.0.1:1"})
	assert.ErrorContains(t, err, "-monitor")
}

// On an authenticated broker redrive connects as its own user, the one that
// may put a parked event back on any channel; orders parks as itself.
func TestRedriveAsItsOwnBrokerUser(t *testing.T) {
	t.Run("stan", func(t *testing.T) {
		n := testenv.NewSecuredNATS(t)
		redriveAsItsOwnBrokerUser(t, n.URL, "", n.BusConfigAs, n.Credential)
	})
	t.Run("jetstream", func(t *testing.T) {
		n := testenv.NewSecuredJetStream(t)
		redriveAsItsOwnBrokerUser(t, n.URL, bus.TransportJetStream, n.BusConfigAs, n.Credential)
	})
}

func redriveAsItsOwnBrokerUser(t *testing.T, url, transport string,
	configAs func(testing.TB, string) bus.Config, credential func(testing.TB, string) bus.Credential) {
	orders := testenv.ConnectBus(t, configAs(t, "orders"))
	k := subscribeAs(t, orders, events.SubjectTicketCreated, "orders-service")
	e := publish(t, testenv.ConnectBus(t, configAs(t, "tickets")), events.SubjectTicketCreated)
	require.Eventually(t, func() bool { return orders.Stats().Parked == 1 }, testenv.Wait, testenv.Tick)
	k.fixed.Store(true)

	cred := credential(t, "redrive")
	out, err := redrive(t, map[string]string{"NATS_URL": url, "EVENT_BUS": transport, "NATS_USER": cred.User, "NATS_PASSWORD": cred.Password, "NATS_CLUSTER_ID": testenv.ClusterID}, "-queue", k.queue)
	require.NoError(t, err)
	assert.Equal(t, "parked.orders-service: republished 1, skipped 0\n", out)
	require.Eventually(t, func() bool { return k.count(e.ID) == 2 }, testenv.Wait, testenv.Tick, "orders gets the event again")

	_, err = redrive(t, map[string]string{"NATS_URL": url, "EVENT_BUS": transport}, "-queue", k.queue, "-timeout", "2s")
	assert.Error(t, err, "without credentials the broker never lets redrive in")
}
