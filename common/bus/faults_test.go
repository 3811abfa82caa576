package bus_test

// The bus under the faults production brings: outages of a handler's store
// that last longer than parking would allow, version gaps, a backlog after a
// broker outage, and parked events put back with Redrive.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
)

// errStoreDown is what a store client of our own says when its server is
// gone; Config.Transient recognises it, as service.Open's does MongoDB's.
var errStoreDown = errors.New("store: no reachable servers")

func TestAnOutageLongerThanParkingAllowsIsWaitedOutAndNeverParked(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		url := tr.shared(t)
		publisher := newClient(t, url)
		const maxDeliveries = 2
		// Longer than maxDeliveries redeliveries: had these failures counted, the
		// event would have been parked well before the outage ended.
		const outage = maxDeliveries*ackWait + 1500*time.Millisecond
		closed := closedAddr(t)
		for name, fail := range map[string]func(ctx context.Context) error{
			"version gap": func(context.Context) error {
				return fmt.Errorf("ticket v2 on v0: %w", bus.ErrNotYet)
			},
			"handler says unavailable": func(context.Context) error {
				return fmt.Errorf("provider answered 503: %w", bus.ErrUnavailable)
			},
			"connection refused": func(ctx context.Context) error {
				conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", closed)
				if err == nil {
					conn.Close()
				}
				return fmt.Errorf("dialing the store: %w", err)
			},
			"MongoDB unreachable, recognised by mongox.IsUnavailable": func(ctx context.Context) error {
				client, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://"+closed).
					SetServerSelectionTimeout(100*time.Millisecond))
				if err != nil {
					return err
				}
				defer client.Disconnect(context.Background())
				return client.Database("d").Collection("c").FindOne(ctx, bson.M{"_id": 1}).Err()
			},
			"store stalls past the attempt's deadline": func(ctx context.Context) error {
				<-ctx.Done()
				return errors.New("no answer") // whatever the store says, the attempt ran out of time
			},
			"store's own error, recognised by Config.Transient": func(context.Context) error {
				return fmt.Errorf("replicating: %w", errStoreDown)
			},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tp := newTopic(url)
				queue := testenv.RandomName("q")
				cfg := config(t, url)
				cfg.Transient = func(err error) bool { return mongox.IsUnavailable(err) || errors.Is(err, errStoreDown) }
				c := bus.New(cfg)
				t.Cleanup(func() { _ = c.Close(context.Background()) })

				var first atomic.Pointer[time.Time]
				var applied atomic.Bool
				rec := &recorder{}
				handler := func(ctx context.Context, m bus.Message) error {
					now := time.Now()
					first.CompareAndSwap(nil, &now)
					if time.Since(*first.Load()) < outage {
						_ = rec.handle(ctx, m)
						return fail(ctx)
					}
					applied.Store(true)
					return rec.handle(ctx, m)
				}
				tp.subscribe(t, c, queue, handler, maxDeliveries)
				e := tp.publish(t, publisher, name)

				require.Eventually(t, applied.Load, outage+testenv.Wait, testenv.Tick, "the event is applied once the outage is over")
				assert.Empty(t, parked(t, url, queue), "an outage never parks")
				deliveries := rec.deliveries(e.ID)
				assert.Greater(t, slices.Max(deliveries), maxDeliveries,
					"the broker redelivered it more often than MaxDeliveries, and it was still not parked")
				assert.Zero(t, c.Stats().RedeliveredWhileRunning)
			})
		}
	})
}

// closedAddr is a loopback address nothing listens on: dialing it is refused.
func closedAddr(t *testing.T) string {
	port, err := testenv.FreePort()
	require.NoError(t, err)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func TestOnlyFailuresThatAreNotOutagesCountTowardParking(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		queue := testenv.RandomName("q")
		const maxDeliveries = 2
		rec := &recorder{result: func(m bus.Message) error {
			if m.Deliveries <= 2 {
				return fmt.Errorf("database restarting: %w", bus.ErrUnavailable)
			}
			return errors.New("price is not a number")
		}}
		tp.subscribe(t, newClient(t, tp.url), queue, rec.handle, maxDeliveries)
		e := tp.publish(t, newClient(t, tp.url), "outage, then a bug")

		records := waitParked(t, tp.url, queue)
		require.Len(t, records, 1)
		assert.Contains(t, records[0].Reason, "price is not a number")
		deliveries := rec.deliveries(e.ID)
		assert.Equal(t, []int{3, 4}, deliveries[len(deliveries)-2:],
			"parked after MaxDeliveries failures that were not outages, on top of the two deliveries of the outage")
	})
}

// A replica that applies version N only on top of N-1, as every replica of
// ours does: the later version comes first and waits for the earlier one.
func TestAVersionGapFilledLaterIsAppliedWithoutWaitingForRedelivery(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		publisher := newClient(t, tp.url)
		var mu sync.Mutex
		version := 0
		appliedAt := map[int]time.Time{}
		var deliveriesOfV2 atomic.Int64
		waiting := make(chan struct{})
		var once sync.Once
		handler := func(_ context.Context, m bus.Message) error {
			var v int
			if _, err := fmt.Sscan(m.ID[len("v"):], &v); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case v <= version:
				return nil
			case v > version+1:
				once.Do(func() { close(waiting) })
				return fmt.Errorf("v%d on v%d: %w", v, version, bus.ErrNotYet)
			}
			version = v
			appliedAt[v] = time.Now()
			if v == 2 {
				deliveriesOfV2.Store(int64(m.Deliveries))
			}
			return nil
		}
		tp.subscribe(t, newClient(t, tp.url), testenv.RandomName("q"), handler, 0)

		publish := func(v int) {
			e := tp.envelope(t, fmt.Sprint("v", v))
			e.ID = fmt.Sprint("v", v)
			require.NoError(t, publisher.Publish(testenv.Context(t), e))
		}
		publish(2)
		select {
		case <-waiting:
		case <-time.After(testenv.Wait):
			require.FailNow(t, "v2 never arrived")
		}
		publish(1) // the gap is filled after v2 was refused

		require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return version == 2 }, testenv.Wait, testenv.Tick)
		assert.EqualValues(t, 1, deliveriesOfV2.Load(), "v2 was applied on its first delivery, held while it waited")
		mu.Lock()
		t.Logf("v2 applied %s after v1", appliedAt[2].Sub(appliedAt[1]))
		mu.Unlock()
	})
}

// logs records what a logger wrote at Error level, passing everything on.
type logs struct {
	slog.Handler
	mu     *sync.Mutex
	errors *[]string
}

func captureLogs(t *testing.T) (*slog.Logger, func() []string) {
	l := logs{Handler: testenv.Logger(t).Handler(), mu: &sync.Mutex{}, errors: &[]string{}}
	return slog.New(l), func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Clone(*l.errors)
	}
}

func (l logs) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		l.mu.Lock()
		*l.errors = append(*l.errors, r.Message)
		l.mu.Unlock()
	}
	return l.Handler.Handle(ctx, r)
}

func (l logs) WithAttrs(as []slog.Attr) slog.Handler {
	return logs{Handler: l.Handler.WithAttrs(as), mu: l.mu, errors: l.errors}
}

func (l logs) WithGroup(name string) slog.Handler {
	return logs{Handler: l.Handler.WithGroup(name), mu: l.mu, errors: l.errors}
}

func TestAGapThatWaitsTooLongIsAlertedAndListedUntilFilled(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		queue := testenv.RandomName("q")
		cfg := config(t, tp.url)
		logger, errorLogs := captureLogs(t)
		cfg.Logger = logger
		cfg.StuckAfter = 1500 * time.Millisecond
		c := bus.New(cfg)
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		require.NoError(t, c.WaitConnected(testenv.Context(t)))

		var filled atomic.Bool
		handler := func(context.Context, bus.Message) error {
			if !filled.Load() {
				return fmt.Errorf("order v3 on v1: %w", bus.ErrNotYet)
			}
			return nil
		}
		tp.subscribe(t, c, queue, handler, 0)
		e := tp.publish(t, newClient(t, tp.url), "v3")

		require.Eventually(t, func() bool { return len(c.Stuck()) == 1 }, testenv.Wait, testenv.Tick, "the gap is listed once it is older than StuckAfter")
		stuck := c.Stuck()[0]
		assert.Equal(t, e.ID, stuck.EventID)
		assert.Equal(t, queue, stuck.Queue)
		assert.True(t, stuck.Gap)
		assert.Contains(t, stuck.Reason, "order v3 on v1")
		require.Eventually(t, func() bool { return slices.Contains(errorLogs(), "event stuck: still not applied") }, testenv.Wait, testenv.Tick,
			"and logged at Error level")

		filled.Store(true)
		require.Eventually(t, func() bool { return len(c.Stuck()) == 0 }, testenv.Wait, testenv.Tick, "a filled gap is no longer listed")
		assert.Empty(t, parked(t, tp.url, queue))
	})
}

// The must-hold: a backlog built up during a broker outage drains without a
// single redelivery of a message that was being handled, at production's
// AckWait and in-flight window, with handlers as slow as a database write.
func TestABacklogAfterABrokerOutageDrainsWithoutRedelivery(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		const (
			backlog = 5000
			// Handling times of a write to a busy database. Handled one at a
			// time with 256 in flight, as before, anything over 20 ms a message
			// passed the old 5 s AckWait while waiting its turn.
			minHandling, maxHandling = 10 * time.Millisecond, 40 * time.Millisecond
		)
		nats := tr.restartable(t)
		tp := newTopic(nats.URL)
		queue := testenv.RandomName("q")

		var mu sync.Mutex
		handled := map[string]int{}
		redelivered := 0
		handler := func(_ context.Context, m bus.Message) error {
			time.Sleep(minHandling + rand.N(maxHandling-minHandling)) // the work
			mu.Lock()
			defer mu.Unlock()
			handled[m.ID]++
			if m.Deliveries > 1 {
				redelivered++
			}
			return nil
		}
		subscribe := func(c *bus.Client) {
			require.NoError(t, c.Subscribe(bus.Subscription{Subject: tp.subject, Queue: queue, Handler: handler}))
		}
		// The group exists (its durable position), then its consumer goes away
		// and the broker has an outage.
		first := newClient(t, nats.URL)
		subscribe(first)
		require.NoError(t, first.Close(testenv.Context(t)))
		nats.Stop(t)
		nats.Start(t)

		publisher := newClient(t, nats.URL)
		ids := make([]string, backlog)
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < backlog; i += 16 {
					e := tp.envelope(t, fmt.Sprint("event ", i))
					ids[i] = e.ID
					assert.NoError(t, publisher.Publish(testenv.Context(t), e))
				}
			})
		}
		wg.Wait()

		consumer := newClient(t, nats.URL)
		start := time.Now()
		subscribe(consumer)
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(handled) }
		require.Eventually(t, func() bool { return count() == backlog }, 50*time.Second, 50*time.Millisecond,
			"the whole backlog is handled")
		elapsed := time.Since(start)
		t.Logf("drained %d events in %s: %.0f events/s (handlers %s-%s, in flight %d, AckWait %s)",
			backlog, elapsed.Round(time.Millisecond), backlog/elapsed.Seconds(), minHandling, maxHandling,
			bus.DefaultMaxInflight, bus.DefaultAckWait)

		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			assert.Equal(t, 1, handled[id], "event %s is handled exactly once", id)
		}
		assert.Zero(t, redelivered, "no message was redelivered")
		assert.Zero(t, consumer.Stats().RedeliveredWhileRunning, "no message was redelivered while its handler ran")
		require.Eventually(t, func() bool { return consumer.Stats().Acked == backlog }, testenv.Wait, testenv.Tick, "every one is acked")
	})
}

func TestRedrivePutsParkedEventsBackOnce(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Parallel()
		tp := newTopic(tr.shared(t))
		queue := testenv.RandomName("q")
		var fixed atomic.Bool
		rec := &recorder{result: func(bus.Message) error {
			if !fixed.Load() {
				return errors.New("a bug, fixed in the next release")
			}
			return nil
		}}
		consumer := newClient(t, tp.url)
		tp.subscribe(t, consumer, queue, rec.handle, 1)
		other := &recorder{} // another service's queue group on the same subject
		tp.subscribe(t, consumer, testenv.RandomName("other"), other.handle, 0)
		e1 := tp.publish(t, consumer, "parked one")
		e2 := tp.publish(t, consumer, "parked two")
		require.Eventually(t, func() bool {
			r, err := readParked(tp.url, queue)
			return err == nil && len(r) == 2
		}, testenv.Wait, 100*time.Millisecond, "both are parked")
		// A message that was parked because it is no event at all.
		require.NoError(t, rawConn(t, tp.url).Publish(string(tp.subject), []byte("not json {")))
		require.Eventually(t, func() bool {
			r, err := readParked(tp.url, queue)
			return err == nil && len(r) == 3
		}, testenv.Wait, 100*time.Millisecond)
		require.Eventually(t, func() bool { return len(other.ids()) == 2 }, testenv.Wait, testenv.Tick)

		fixed.Store(true)
		operator := newClient(t, tp.url)
		reports, err := operator.Redrive(testenv.Context(t), queue)
		require.NoError(t, err)
		assert.Equal(t, []bus.RedriveReport{{Queue: queue, Republished: 2, Skipped: 1}}, reports)
		for _, e := range []events.Envelope{e1, e2} {
			require.Eventually(t, func() bool { return len(rec.deliveries(e.ID)) == 2 }, testenv.Wait, testenv.Tick, "the consumer gets the event again")
		}
		require.Eventually(t, func() bool { return len(other.ids()) == 4 }, testenv.Wait, testenv.Tick,
			"every group on the subject gets it again, with its event id, and dedupes by it")
		assert.ElementsMatch(t, []string{e1.ID, e2.ID, e1.ID, e2.ID}, other.ids())

		again, err := operator.Redrive(testenv.Context(t), queue)
		require.NoError(t, err)
		assert.Equal(t, []bus.RedriveReport{{Queue: queue}}, again, "a second run finds nothing left to re-drive")
		assert.Never(t, func() bool { return len(rec.deliveries(e1.ID)) > 2 }, 2*ackWait, 100*time.Millisecond,
			"nothing was republished twice")
		assert.Len(t, parked(t, tp.url, queue), 3, "the records stay in the channel's history")
	})
}

func TestRedriveWithoutABrokerFails(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		c := bus.New(tr.busConfig("nats://127.0.0.1:1"))
		defer c.Close(context.Background())
		_, err := c.Redrive(context.Background(), "q")
		assert.ErrorIs(t, err, bus.ErrNotConnected)
	})
}
