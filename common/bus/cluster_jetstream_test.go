package bus_test

// The broker as a 3-node cluster on loopback, for either transport: the
// stream leader (the Raft leader of NATS Streaming) killed while events
// flow, every node restarted at once; and JetStream's deduplication of an
// event published twice.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

// A relay that crashed between the broker's ack and removing the event from
// its outbox publishes it again when it restarts: JetStream drops the second
// copy by its Nats-Msg-Id (the event id), so every group gets it once.
func TestAnEventPublishedTwiceIsHandledOnceOnJetStream(t *testing.T) {
	t.Parallel()
	tr := transport{bus.TransportJetStream}
	tp := newTopic(tr.shared(t))
	rec := &recorder{}
	tp.subscribe(t, newClient(t, tp.url), testenv.RandomName("q"), rec.handle, 0)
	relay := newClient(t, tp.url)
	e := tp.envelope(t, "published, acked, not popped")
	require.NoError(t, relay.Publish(testenv.Context(t), e))
	restarted := newClient(t, tp.url) // the relay after its restart
	require.NoError(t, restarted.Publish(testenv.Context(t), e), "the duplicate is acked, as if stored")
	next := tp.publish(t, restarted, "the next event")

	require.Eventually(t, rec.has(next.ID), testenv.Wait, testenv.Tick)
	assert.Never(t, func() bool { return len(rec.deliveries(e.ID)) > 1 }, 3*ackWait, 100*time.Millisecond,
		"the consumer sees the event once")
	assert.Equal(t, []int{1}, rec.deliveries(e.ID))
	assert.Equal(t, 2, storedOn(t, tp.url, tp.subject), "the stream stored the event once, and the next one")
}

// storedOn counts the messages the stream holds on subject.
func storedOn(t *testing.T, url string, subject events.Subject) int {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	var n uint64
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(testenv.Context(t), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, bus.StreamName)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.SubjectPrefix+string(subject)))
		if err != nil {
			return false
		}
		n = info.State.Subjects[bus.SubjectPrefix+string(subject)]
		return true
	}, testenv.Wait, testenv.Tick)
	return int(n)
}

// cluster is a 3-node broker of either transport.
type cluster struct {
	url    string
	config bus.Config
	nodes  []interface {
		Kill(testing.TB)
		Start(testing.TB)
	}
	// leader is the node that leads the stream, -1 while none does.
	leader func() int
}

func newCluster(t *testing.T, tr transport) *cluster {
	t.Helper()
	if tr.jetstream() {
		cl := testenv.NewJetStreamCluster(t)
		c := &cluster{url: tr.register(cl.URL), config: cl.BusConfig(), leader: cl.Leader}
		for _, n := range cl.Nodes {
			c.nodes = append(c.nodes, n)
		}
		return c
	}
	cl := testenv.NewNATSCluster(t)
	require.Eventually(t, cl.Formed, testenv.Wait, testenv.Tick, "the nodes elect a leader")
	c := &cluster{url: tr.register(cl.URL), config: cl.BusConfigAs(t, "redrive"), leader: cl.Leader}
	for _, n := range cl.Nodes {
		c.nodes = append(c.nodes, n)
	}
	return c
}

func (cl *cluster) client(t *testing.T) *bus.Client {
	t.Helper()
	cfg := cl.config
	cfg.ClientID = testenv.RandomName("test")
	cfg.Logger = testenv.Logger(t)
	cfg.PubAckWait = pubAckWait
	cfg.ReconnectWait = 100 * time.Millisecond
	return testenv.ConnectBus(t, cfg)
}

// effects applies each event once, by its id, as every listener of ours
// does, and records when it handled anything.
type effects struct {
	mu         sync.Mutex
	applied    map[string]int
	deliveries int
	times      []time.Time
}

func (e *effects) handle(_ context.Context, m bus.Message) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deliveries++
	e.applied[m.ID]++
	e.times = append(e.times, time.Now())
	return nil
}

func (e *effects) count() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.applied) }

// longestPause is the longest time between two deliveries.
func (e *effects) longestPause() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var longest time.Duration
	for i := 1; i < len(e.times); i++ {
		longest = max(longest, e.times[i].Sub(e.times[i-1]))
	}
	return longest
}

// publishFlow publishes n events one after another, each retried with its
// own id until the broker acks it, as the outbox relay does; killAt is
// called once, after a third of them.
func publishFlow(t *testing.T, c *bus.Client, tp topic, n int, killAt func()) []string {
	ids := make([]string, n)
	for i := range n {
		if i == n/3 {
			killAt()
		}
		e := tp.envelope(t, fmt.Sprint("event ", i))
		ids[i] = e.ID
		require.Eventually(t, func() bool { return c.Publish(testenv.Context(t), e) == nil }, 30*time.Second, 50*time.Millisecond,
			"event %d is published in the end", i)
		time.Sleep(10 * time.Millisecond)
	}
	return ids
}

func TestKillingTheLeaderWhileEventsFlowLosesNothing(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cl := newCluster(t, tr)
		publisher, consumer := cl.client(t), cl.client(t)
		tp := newTopic(cl.url)
		got := &effects{applied: map[string]int{}}
		tp.subscribe(t, consumer, testenv.RandomName("q"), got.handle, 0)
		const n = 300
		killed := -1
		ids := publishFlow(t, publisher, tp, n, func() {
			require.Eventually(t, func() bool { killed = cl.leader(); return killed >= 0 }, testenv.Wait, testenv.Tick, "a leader")
			cl.nodes[killed].Kill(t)
			t.Logf("killed the leader, node %d", killed)
		})
		require.Eventually(t, func() bool { return got.count() == n }, 60*time.Second, testenv.Tick, "every event is handled")
		cl.nodes[killed].Start(t)

		pause := got.longestPause()
		got.mu.Lock()
		defer got.mu.Unlock()
		twice := 0
		for i, id := range ids {
			require.Positive(t, got.applied[id], "event %d was handled", i)
			if got.applied[id] > 1 {
				twice++
			}
		}
		t.Logf("%d events, %d deliveries, %d events delivered more than once; the flow paused at most %s",
			n, got.deliveries, twice, pause.Round(time.Millisecond))
		assert.Less(t, pause, 10*time.Second, "the flow resumes within 10 s")
		// NATS Streaming redelivers what was in flight to the dead leader (its
		// acks died with it): idempotent listeners take effect once anyway.
		// JetStream's acks wait for the consumer's confirmation, and its
		// publications are deduplicated across the failover.
		if tr.jetstream() {
			assert.Zero(t, twice, "nothing was handled twice")
			assert.Equal(t, n, storedOn(t, cl.url, tp.subject), "no publication retried across the failover was stored twice")
		}
	})
}

func TestRestartingEveryNodeAtOnceLosesNothingAcked(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		cl := newCluster(t, tr)
		tp := newTopic(cl.url)
		queue := testenv.RandomName("q")
		publisher := cl.client(t)
		// The group exists before the restart; it has handled nothing yet.
		first := cl.client(t)
		tp.subscribe(t, first, queue, func(context.Context, bus.Message) error { return bus.ErrUnavailable }, 0)
		const n = 100
		ids := make([]string, n)
		for i := range n {
			ids[i] = tp.publish(t, publisher, fmt.Sprint("acked ", i)).ID
		}
		require.NoError(t, first.Close(testenv.Context(t)))

		var wg sync.WaitGroup
		for _, node := range cl.nodes {
			wg.Go(func() { node.Kill(t) })
		}
		wg.Wait()
		for _, node := range cl.nodes {
			wg.Go(func() { node.Start(t) })
		}
		wg.Wait()

		got := &effects{applied: map[string]int{}}
		tp.subscribe(t, cl.client(t), queue, got.handle, 0)
		require.Eventually(t, func() bool { return got.count() == n }, 60*time.Second, testenv.Tick,
			"every acked event is delivered after the restart")
		got.mu.Lock()
		defer got.mu.Unlock()
		for i, id := range ids {
			assert.Positive(t, got.applied[id], "event %d", i)
		}
	})
}
