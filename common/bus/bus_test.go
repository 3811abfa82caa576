package bus_test

// A conformance test of the bus against a real NATS Streaming server: durable
// resume, redelivery, parking, queue groups, broker restarts and shutdown.
// Outages, version gaps, backlogs and re-driving are in faults_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	// ackWait is the shortest AckWait the broker accepts; it keeps redelivery tests short.
	ackWait    = time.Second
	pubAckWait = 2 * time.Second
)

// config is the tests' configuration for the broker at url, on its transport.
func config(t *testing.T, url string) bus.Config { return transportOf(url).config(t, url) }

// newClient returns a client connected to url, closed when the test ends.
func newClient(t *testing.T, url string) *bus.Client {
	t.Helper()
	c := bus.New(config(t, url))
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	require.NoError(t, c.WaitConnected(testenv.Context(t)))
	return c
}

// recorder is a handler that records every delivery and answers with result.
type recorder struct {
	result func(m bus.Message) error

	mu  sync.Mutex
	got []bus.Message
}

func (r *recorder) handle(_ context.Context, m bus.Message) error {
	r.mu.Lock()
	r.got = append(r.got, m)
	r.mu.Unlock()
	if r.result != nil {
		return r.result(m)
	}
	return nil
}

func (r *recorder) messages() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) ids() []string {
	var ids []string
	for _, m := range r.messages() {
		ids = append(ids, m.ID)
	}
	return ids
}

// deliveries lists Message.Deliveries of each delivery of event id, in order.
func (r *recorder) deliveries(id string) []int {
	var out []int
	for _, m := range r.messages() {
		if m.ID == id {
			out = append(out, m.Deliveries)
		}
	}
	return out
}

func (r *recorder) has(id string) func() bool {
	return func() bool { return slices.Contains(r.ids(), id) }
}

// topic is one test's own channel, so tests sharing a broker never see each
// other's events.
type topic struct {
	url     string
	subject events.Subject
}

func newTopic(url string) topic {
	return topic{url: url, subject: events.Subject(testenv.RandomName("test"))}
}

func (tp topic) subscribe(t *testing.T, c *bus.Client, queue string, h bus.Handler, maxDeliveries int) {
	t.Helper()
	require.NoError(t, c.Subscribe(bus.Subscription{
		Subject:       tp.subject,
		Queue:         queue,
		Handler:       h,
		AckWait:       ackWait,
		MaxDeliveries: maxDeliveries,
	}))
}

func (tp topic) envelope(t *testing.T, title string) events.Envelope {
	t.Helper()
	e, err := events.New(events.TicketCreated{ID: title, Title: title, Price: 2050, UserID: "u1"})
	require.NoError(t, err)
	e.Subject = tp.subject
	return e
}

func (tp topic) publish(t *testing.T, c *bus.Client, title string) events.Envelope {
	t.Helper()
	e := tp.envelope(t, title)
	require.NoError(t, c.Publish(testenv.Context(t), e))
	return e
}

// parked returns every record on queue's parked channel so far. It appends a
// marker and reads up to it, so "nothing was parked" needs no waiting.
func parked(t *testing.T, url, queue string) []bus.Parked {
	t.Helper()
	records, err := readParked(url, queue)
	require.NoError(t, err)
	return records
}

func readParkedStan(url, queue string) ([]bus.Parked, error) {
	sc, err := stan.Connect(testenv.ClusterID, testenv.RandomName("reader"), stan.NatsURL(url))
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	marker := fmt.Sprintf("%q", testenv.RandomName("marker"))
	if err := sc.Publish(bus.ParkedChannel(queue), []byte(marker)); err != nil {
		return nil, err
	}
	msgs := make(chan []byte, 1000)
	sub, err := sc.Subscribe(bus.ParkedChannel(queue), func(m *stan.Msg) { msgs <- m.Data }, stan.DeliverAllAvailable())
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	var out []bus.Parked
	for {
		select {
		case data := <-msgs:
			if string(data) == marker {
				return out, nil
			}
			if data[0] == '"' {
				continue // an earlier read's marker
			}
			var p bus.Parked
			if err := json.Unmarshal(data, &p); err != nil {
				return nil, fmt.Errorf("parked record %s: %w", data, err)
			}
			out = append(out, p)
		case <-time.After(testenv.Wait):
			return nil, errors.New("the parked channel never reached its end marker")
		}
	}
}

// waitParked waits until something is parked for queue and returns it.
func waitParked(t *testing.T, url, queue string) []bus.Parked {
	t.Helper()
	var records []bus.Parked
	require.Eventually(t, func() bool {
		r, err := readParked(url, queue)
		records = r
		return err == nil && len(r) > 0
	}, testenv.Wait, 100*time.Millisecond, "nothing was parked")
	return records
}

func TestSubscribeRequiresSubjectQueueAndHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		c := bus.New(tr.config(t, "nats://127.0.0.1:1"))
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		h := func(context.Context, bus.Message) error { return nil }
		for name, s := range map[string]bus.Subscription{
			"no subject": {Queue: "q", Handler: h},
			"no queue":   {Subject: events.SubjectTicketCreated, Handler: h},
			"no handler": {Subject: events.SubjectTicketCreated, Queue: "q"},
		} {
			assert.Error(t, c.Subscribe(s), name)
		}
	})
}

func TestDurableQueueGroupResumesWhereItLeftOff(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		queue := testenv.RandomName("q")
		publisher := newClient(t, tp.url)

		first := newClient(t, tp.url)
		before := &recorder{}
		tp.subscribe(t, first, queue, before.handle, 0)
		e1 := tp.publish(t, publisher, "handled before the restart")
		require.Eventually(t, before.has(e1.ID), testenv.Wait, testenv.Tick)
		require.NoError(t, first.Close(testenv.Context(t)))

		e2 := tp.publish(t, publisher, "published while no subscriber runs")

		second := newClient(t, tp.url)
		after := &recorder{}
		tp.subscribe(t, second, queue, after.handle, 0)
		require.Eventually(t, after.has(e2.ID), testenv.Wait, testenv.Tick)
		// Had Close unsubscribed the group, it would have started over with e1.
		assert.Equal(t, []string{e2.ID}, after.ids(), "the group resumes after what it acked")
	})
}

func TestSubscriptionWaitsForTheBroker(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		nats := tr.restartable(t)
		nats.Stop(t)
		tp := newTopic(nats.URL)

		c := bus.New(config(t, nats.URL))
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		rec := &recorder{}
		tp.subscribe(t, c, "q", rec.handle, 0)
		assert.ErrorIs(t, c.Check(context.Background()), bus.ErrNotConnected)
		assert.ErrorIs(t, c.Publish(context.Background(), tp.envelope(t, "too early")), bus.ErrNotConnected,
			"with no connection, Publish fails at once")

		nats.Start(t)
		require.NoError(t, c.WaitConnected(testenv.Context(t)))
		require.NoError(t, c.Check(context.Background()))
		e := tp.publish(t, c, "after the broker came up")
		require.Eventually(t, rec.has(e.ID), testenv.Wait, testenv.Tick, "the subscription made before connecting is live")
	})
}

func TestFailedHandlingIsRedelivered(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		url := tr.shared(t)
		publisher := newClient(t, url)
		for name, fail := range map[string]func(){
			"handler returns an error": func() {},
			"handler panics":           func() { panic("boom") },
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tp := newTopic(url)
				rec := &recorder{result: func(m bus.Message) error {
					if m.Deliveries == 1 {
						fail()
						return errors.New("not stored yet")
					}
					return nil
				}}
				tp.subscribe(t, newClient(t, url), "q", rec.handle, 0)
				e := tp.publish(t, publisher, name)
				require.Eventually(t, func() bool { return len(rec.deliveries(e.ID)) == 2 }, testenv.Wait, testenv.Tick)
				assert.Equal(t, []int{1, 2}, rec.deliveries(e.ID))
			})
		}
	})
}

func TestMessageThatKeepsFailingIsParked(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		url := tr.shared(t)
		publisher := newClient(t, url)
		const maxDeliveries = 3
		for name, tc := range map[string]struct {
			fail   func() error
			reason string
		}{
			"handler returns an error": {func() error { return errors.New("price is not a number") }, "price is not a number"},
			"handler panics":           {func() error { panic("nil map") }, "panicked: nil map"},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tp := newTopic(url)
				queue := testenv.RandomName("q")
				rec := &recorder{result: func(bus.Message) error { return tc.fail() }}
				tp.subscribe(t, newClient(t, url), queue, rec.handle, maxDeliveries)
				e := tp.publish(t, publisher, name)

				records := waitParked(t, url, queue)
				require.Len(t, records, 1)
				p := records[0]
				assert.Equal(t, queue, p.Queue)
				assert.Equal(t, string(tp.subject), p.Subject)
				assert.Contains(t, p.Reason, tc.reason)
				assert.WithinDuration(t, time.Now(), p.ParkedAt, time.Minute)
				var original events.Envelope
				require.NoError(t, json.Unmarshal(p.Message, &original))
				assert.Equal(t, e.ID, original.ID, "the parked record carries the message")
				assert.Equal(t, []int{1, 2, 3}, rec.deliveries(e.ID))

				assert.Never(t, func() bool { return len(rec.deliveries(e.ID)) > maxDeliveries }, 3*ackWait, 100*time.Millisecond,
					"a parked message is acked and not delivered again")
			})
		}
	})
}

func TestMalformedMessageIsParkedWithoutReachingTheHandler(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		url := tr.shared(t)
		raw := rawConn(t, url)
		for _, tc := range []struct {
			name   string
			data   func(tp topic) string
			reason string
		}{
			{"not JSON", func(topic) string { return "not json {" }, "invalid character"},
			{"no event id", func(tp topic) string { return fmt.Sprintf(`{"subject":%q,"data":{}}`, tp.subject) }, "no event id"},
			{"another channel's event", func(topic) string { return `{"id":"e1","subject":"order:created","data":{}}` }, `"order:created"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tp := newTopic(url)
				queue := testenv.RandomName("q")
				rec := &recorder{}
				tp.subscribe(t, newClient(t, url), queue, rec.handle, 0)
				data := tc.data(tp)
				require.NoError(t, raw.Publish(string(tp.subject), []byte(data)))

				records := waitParked(t, url, queue)
				require.Len(t, records, 1)
				assert.Contains(t, records[0].Reason, "malformed")
				assert.Contains(t, records[0].Reason, tc.reason)
				if json.Valid([]byte(data)) {
					assert.JSONEq(t, data, string(records[0].Message), "the parked record carries the message")
				} else {
					var text string
					require.NoError(t, json.Unmarshal(records[0].Message, &text))
					assert.Equal(t, data, text, "a message that is not JSON is kept as a string")
				}
				assert.Empty(t, rec.messages(), "the handler never sees a malformed message")
			})
		}
	})
}

func TestQueueGroupHandsEachEventToOneMember(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		queue := testenv.RandomName("q")
		a, b := &recorder{}, &recorder{}
		tp.subscribe(t, newClient(t, tp.url), queue, a.handle, 0)
		tp.subscribe(t, newClient(t, tp.url), queue, b.handle, 0)
		publisher := newClient(t, tp.url)

		const n = 20
		want := make([]string, 0, n)
		for i := range n {
			want = append(want, tp.publish(t, publisher, fmt.Sprint("event ", i)).ID)
		}
		all := func() []string { return append(a.ids(), b.ids()...) }
		require.Eventually(t, func() bool { return len(all()) >= n }, testenv.Wait, testenv.Tick)
		assert.Never(t, func() bool { return len(all()) > n }, 2*ackWait, 100*time.Millisecond, "no event is handled twice")
		assert.ElementsMatch(t, want, all())
		assert.NotEmpty(t, a.ids(), "both members share the work")
		assert.NotEmpty(t, b.ids(), "both members share the work")
	})
}

func TestClientRidesOutABrokerRestart(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			// longOutage keeps the broker down until the client has given up its
			// connection (ping limit), so it must connect and subscribe anew.
			longOutage bool
		}{
			{"brief outage", false},
			{"outage past the ping limit", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := testenv.Context(t)
				nats := tr.restartable(t)
				tp := newTopic(nats.URL)
				c := newClient(t, nats.URL)
				rec := &recorder{}
				tp.subscribe(t, c, "q", rec.handle, 0)
				before := tp.publish(t, c, "before")
				require.Eventually(t, rec.has(before.ID), testenv.Wait, testenv.Tick)

				nats.Stop(t)
				start := time.Now()
				err := c.Publish(ctx, tp.envelope(t, "during"))
				require.Error(t, err, "Publish fails while the broker is down")
				assert.Less(t, time.Since(start), pubAckWait+time.Second, "and gives up within PubAckWait")
				if tc.longOutage {
					require.Eventually(t, func() bool {
						return errors.Is(c.Publish(ctx, tp.envelope(t, "during")), bus.ErrNotConnected)
					}, testenv.Wait, testenv.Tick, "the client notices the lost connection")
				}

				nats.Start(t)
				require.Eventually(t, c.Connected, testenv.Wait, testenv.Tick, "the client reconnects by itself")
				var after events.Envelope
				require.Eventually(t, func() bool {
					after = tp.envelope(t, "after")
					return c.Publish(ctx, after) == nil
				}, testenv.Wait, testenv.Tick, "Publish works again")
				// "before" may come once more: an ack still on its way when the
				// broker stopped is lost. Consumers are idempotent for that.
				require.Eventually(t, rec.has(after.ID), testenv.Wait, testenv.Tick, "the subscription delivers again")
			})
		}
	})
}

func TestCloseWaitsForTheRunningHandler(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		queue := testenv.RandomName("q")
		started := make(chan struct{}, 1)
		var finished, cancelled atomic.Bool
		handler := func(ctx context.Context, m bus.Message) error {
			started <- struct{}{}
			time.Sleep(300 * time.Millisecond) // the work being done
			cancelled.Store(ctx.Err() != nil)
			finished.Store(true)
			return nil
		}
		c := newClient(t, tp.url)
		tp.subscribe(t, c, queue, handler, 0)
		e := tp.publish(t, newClient(t, tp.url), "in flight")

		select {
		case <-started:
		case <-time.After(testenv.Wait):
			require.FailNow(t, "the handler never started")
		}
		require.NoError(t, c.Close(testenv.Context(t)))
		assert.True(t, finished.Load(), "Close returned before the handler finished")
		assert.False(t, cancelled.Load(), "the handler's context stays live while Close waits")

		// The handler's nil came after Close began; the message was still acked.
		next := &recorder{}
		tp.subscribe(t, newClient(t, tp.url), queue, next.handle, 0)
		assert.Never(t, next.has(e.ID), 3*ackWait, 100*time.Millisecond, "the message was not acked")
	})
}

func TestCloseCancelsHandlersPastItsDeadline(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		started := make(chan struct{}, 1)
		handler := func(ctx context.Context, m bus.Message) error {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}
		c := newClient(t, tp.url)
		tp.subscribe(t, c, "q", handler, 0)
		tp.publish(t, newClient(t, tp.url), "stuck")
		select {
		case <-started:
		case <-time.After(testenv.Wait):
			require.FailNow(t, "the handler never started")
		}

		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- c.Close(ctx) }()
		select {
		case err := <-closed:
			assert.NoError(t, err)
		case <-time.After(testenv.Wait):
			require.FailNow(t, "Close hung on a handler that waits for its context")
		}
	})
}

func TestAnAckWaitBelowTheBrokersMinimumIsRefused(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		c := bus.New(tr.busConfig("nats://127.0.0.1:1"))
		defer c.Close(context.Background())
		err := c.Subscribe(bus.Subscription{Subject: "x", Queue: "q", AckWait: 500 * time.Millisecond,
			Handler: func(context.Context, bus.Message) error { return nil }})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "below NATS Streaming's minimum of 1s")
	})
}

// On takes the subject from the payload type and hands the handler the
// decoded payload; a payload that does not decode fails like a handler error.
func TestOnDecodesThePayloadForItsSubject(t *testing.T) {
	var got events.OrderCancelled
	sub := bus.On("q", func(_ context.Context, p events.OrderCancelled) error { got = p; return nil })
	assert.Equal(t, events.SubjectOrderCancelled, sub.Subject)
	assert.Equal(t, "q", sub.Queue)

	env, err := events.New(events.OrderCancelled{ID: "o1", Version: 2, Ticket: events.TicketRef{ID: "t1"}})
	require.NoError(t, err)
	require.NoError(t, sub.Handler(context.Background(), bus.Message{Envelope: env}))
	assert.Equal(t, events.OrderCancelled{ID: "o1", Version: 2, Ticket: events.TicketRef{ID: "t1"}}, got)

	wrong, err := events.New(events.OrderCompleted{ID: "o1"})
	require.NoError(t, err)
	assert.Error(t, sub.Handler(context.Background(), bus.Message{Envelope: wrong}), "another subject's payload is refused")
}
