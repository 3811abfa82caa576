package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

// replayed records what a replay handed its handler, per subject.
type replayed struct {
	mu  sync.Mutex
	ids map[events.Subject][]string
}

func (r *replayed) handle(_ context.Context, m bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[m.Subject] = append(r.ids[m.Subject], m.ID)
	return nil
}

func TestReplayReadsWhatTheChannelsHeldSinceATime(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		url := tr.shared(t)
		c := newClient(t, url)
		ctx := testenv.Context(t)
		a, b, empty := newTopic(url), newTopic(url), newTopic(url)
		group := &recorder{}
		a.subscribe(t, c, testenv.RandomName("q"), group.handle, 0)

		a.publish(t, c, "before")
		// The broker stamps a message when it stores it, before Publish returns.
		since := time.Now()
		want := map[events.Subject][]string{}
		for _, title := range []string{"a1", "a2"} {
			want[a.subject] = append(want[a.subject], a.publish(t, c, title).ID)
		}
		require.NoError(t, rawConn(t, url).Publish(string(a.subject), []byte("not an envelope")))
		want[a.subject] = append(want[a.subject], a.publish(t, c, "a3").ID)
		want[b.subject] = append(want[b.subject], b.publish(t, c, "b1").ID)

		// Messages published while the replay runs are not waited for.
		stopPublishing := make(chan struct{})
		publishing := make(chan struct{})
		go func() {
			defer close(publishing)
			for {
				select {
				case <-stopPublishing:
					return
				default:
					_ = c.Publish(ctx, a.envelope(t, "later"))
				}
			}
		}()
		got := &replayed{ids: map[events.Subject][]string{}}
		err := c.Replay(ctx, since, got.handle, a.subject, b.subject, empty.subject)
		close(stopPublishing)
		<-publishing
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(got.ids[a.subject]), 3)
		assert.Equal(t, want[a.subject], got.ids[a.subject][:3], "in order, from since, the malformed message skipped")
		assert.Equal(t, want[b.subject], got.ids[b.subject])
		assert.Empty(t, got.ids[empty.subject])

		// The queue group saw every message once: the replay took none of them.
		last := a.publish(t, c, "last")
		require.Eventually(t, group.has(last.ID), testenv.Wait, testenv.Tick)
		ids := group.ids()
		seen := map[string]int{}
		for _, id := range ids {
			seen[id]++
		}
		for _, id := range want[a.subject] {
			assert.Equal(t, 1, seen[id], "the queue group got %s once", id)
		}

		nothing := &replayed{ids: map[events.Subject][]string{}}
		require.NoError(t, c.Replay(ctx, time.Now(), nothing.handle, b.subject))
		assert.Empty(t, nothing.ids, "nothing stored since")
	})
}

func TestAReplayHandlerErrorStopsTheReplay(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		url := tr.shared(t)
		c := newClient(t, url)
		tp := newTopic(url)
		since := time.Now()
		tp.publish(t, c, "one")
		tp.publish(t, c, "two")
		boom := errors.New("store unavailable")
		calls := 0
		err := c.Replay(testenv.Context(t), since, func(context.Context, bus.Message) error { calls++; return boom }, tp.subject)
		require.ErrorIs(t, err, boom)
		assert.Equal(t, 1, calls)
	})
}

func TestAReplayWithoutABrokerFails(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		nats := tr.restartable(t)
		c := bus.New(config(t, nats.URL))
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		nats.Stop(t)
		err := c.Replay(testenv.Context(t), time.Now().Add(-time.Hour), func(context.Context, bus.Message) error { return nil }, "any")
		assert.Error(t, err)
	})
}
