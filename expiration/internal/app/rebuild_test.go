package app_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/store"
)

// Redis loses expiration's data while 20 holds are open; every one still
// lapses, never early, at most about one marker check interval late.

func TestHoldsLapseAfterRedisIsFlushed(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	s.holdsLapseAfter(s.flushAll, "FLUSHALL")
}

func TestHoldsLapseAfterRedisRestartsWithoutItsData(t *testing.T) {
	// This Redis runs without the append-only file: a restart empties it.
	s := newSystem(t, false)
	s.start()
	s.holdsLapseAfter(func() {
		s.redis.Stop(t)
		s.redis.Start(t)
	}, "a restart of Redis without persistence")
}

func TestHoldsLapseWhenExpirationStartsOnARedisThatLostThem(t *testing.T) {
	s := newSystem(t, false)
	stop := s.start()
	s.holdsLapseAfter(func() {
		stop()
		s.flushAll()
		s.start()
	}, "a stop of expiration, FLUSHALL and a start")
}

const markerKey = "expiration:epoch"

// With its append-only file Redis keeps the marker across a restart, but a
// crash can lose the writes of its last second (appendfsync everysec). The
// marker names the Redis process it was written in, so any restart rebuilds.
func TestAHoldWhoseWriteARedisRestartLostStillLapses(t *testing.T) {
	s := newSystem(t, true)
	s.start()
	ctx := testenv.Context(t)
	id, at := s.openHold(5 * time.Second)

	// The write of the order's job is what the crash loses.
	require.NoError(t, s.holds.Cancel(ctx, id))
	before := s.rdb.Get(ctx, markerKey).Val()
	s.redis.Stop(t)
	s.redis.Start(t)
	// The append-only file kept the marker (store's marker tests show it).
	s.waitMarked("the restart is noticed and the schedule rebuilt")
	assert.NotEqual(t, before, s.rdb.Get(ctx, markerKey).Val(), "the marker names the new Redis process")

	lateness := s.waitExpired(id, at)
	assert.Less(t, lateness, generousLateness)
	t.Logf("a hold whose job a Redis restart lost lapsed %s after its deadline", lateness.Round(time.Millisecond))
}

func (s *system) flushAll() { require.NoError(s.t, s.rdb.FlushAll(testenv.Context(s.t)).Err()) }

// openHold waits for the schedule to be complete, then opens a hold whose
// window closes in the given time and waits until Redis holds its job.
func (s *system) openHold(in time.Duration) (string, time.Time) {
	s.t.Helper()
	s.waitMarked("the schedule is complete at start")
	id, at := testenv.RandomName("order"), time.Now().Add(in)
	s.orderCreated(id, at)
	s.waitJob(id, "scheduled")
	return id, at
}

// waitMarked waits until Redis carries the marker of a complete schedule.
func (s *system) waitMarked(why string) {
	s.t.Helper()
	marker := store.NewMarker(s.rdb)
	require.Eventually(s.t, func() bool {
		present, err := marker.Present(testenv.Context(s.t))
		return err == nil && present
	}, 30*time.Second, 5*time.Millisecond, why)
}

// openHolds opens n holds whose windows close every step from first on, and
// waits until Redis holds their jobs; it returns each order's deadline.
func (s *system) openHolds(n int, first time.Time, step time.Duration) map[string]time.Time {
	s.t.Helper()
	deadlines := map[string]time.Time{}
	for i := range n {
		id := testenv.RandomName("open")
		deadlines[id] = first.Add(time.Duration(i) * step)
		s.orderCreated(id, deadlines[id])
	}
	for id := range deadlines {
		s.waitJob(id, "scheduled")
	}
	return deadlines
}

// lossLateness is what holdsLapseAfter measured.
type lossLateness struct {
	// rebuilt is how long after the loss the marker was back.
	rebuilt time.Duration
	// lost are the latenesses of holds whose deadline passed before the
	// rebuild, kept those of the others.
	lost, kept []time.Duration
}

// holdsLapseAfter opens 20 holds and settled orders of every kind, calls lose
// to make Redis lose its data, and checks that every open hold lapses on time
// and no settled order lapses.
func (s *system) holdsLapseAfter(lose func(), what string) lossLateness {
	t := s.t
	s.waitMarked("expiration marks the schedule it holds")

	// An order that lapsed before the loss and that orders then cancelled.
	lapsed := testenv.RandomName("lapsed")
	s.orderCreated(lapsed, time.Now().Add(500*time.Millisecond))
	s.waitExpired(lapsed, time.Now().Add(-time.Minute))
	s.publish(events.OrderCancelled{ID: lapsed, Version: 1, Ticket: events.TicketRef{ID: "ticket-" + lapsed}})

	// The holds' windows close from first on, a whole second at least 1.5 s
	// away: asynq makes a job due in the whole second of its deadline, so up
	// to then every job is still waiting in Redis, none is running.
	first := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	// A cancelled and a paid order whose windows close with the first hold's.
	// Each subject has a handler of its own, so a settlement published at once
	// could overtake its order:created; it is published once the job is there.
	cancelled, paid := testenv.RandomName("cancelled"), testenv.RandomName("paid")
	for _, id := range []string{cancelled, paid} {
		s.orderCreated(id, first)
		s.waitJob(id, "scheduled")
	}
	s.publish(events.OrderCancelled{ID: cancelled, Version: 1, Ticket: events.TicketRef{ID: "ticket-" + cancelled}})
	s.publish(events.OrderCompleted{ID: paid, Version: 1, Ticket: events.TicketRef{ID: "ticket-" + paid}})

	// An order the buyer cancels once the schedule is rebuilt.
	cancelledLater := testenv.RandomName("cancelled-later")
	s.orderCreated(cancelledLater, first.Add(2*time.Second))

	// 20 holds whose windows close over 4.4 s.
	deadlines := s.openHolds(20, first, 230*time.Millisecond)
	s.waitJob(cancelled, "none")
	s.waitJob(paid, "none")
	s.waitJob(cancelledLater, "scheduled")

	// The loss comes just before the first window closes, so the first holds'
	// deadlines pass while expiration has yet to notice it. This waits for a
	// moment of the scenario, not for an effect.
	<-time.After(time.Until(first.Add(-100 * time.Millisecond)))
	lost := time.Now()
	lose()
	s.waitMarked("expiration notices the loss and rebuilds its schedule")
	rebuilt := time.Now()
	s.publish(events.OrderCancelled{ID: cancelledLater, Version: 1, Ticket: events.TicketRef{ID: "ticket-" + cancelledLater}})

	measured := lossLateness{rebuilt: rebuilt.Sub(lost)}
	for id, at := range deadlines {
		lateness := s.waitExpired(id, at)
		assert.Less(t, lateness, generousLateness, "order %s", id)
		if at.Before(rebuilt) {
			measured.lost = append(measured.lost, lateness)
		} else {
			measured.kept = append(measured.kept, lateness)
		}
	}
	for id := range deadlines {
		assert.Equal(t, 1, len(s.lapses(id)), "order %s lapses once", id)
	}
	// Had the rebuild scheduled them, their past deadlines would have made
	// them due at once, long before the last hold lapsed.
	assert.Zero(t, len(s.lapses(cancelled)), "a cancelled order in the replayed history does not lapse")
	assert.Zero(t, len(s.lapses(paid)), "a paid order in the replayed history does not lapse")
	assert.Equal(t, 1, len(s.lapses(lapsed)), "an order that lapsed before the loss does not lapse again")
	assert.Zero(t, len(s.lapses(cancelledLater)), "cancelling an order after the rebuild removes its rebuilt hold")

	t.Logf("after %s: schedule rebuilt %s after the loss; 20 holds (deadlines over 4.4 s from 100 ms after the loss, check intervals 1 s)", what, measured.rebuilt.Round(time.Millisecond))
	logLateness(t, "deadline before the rebuild", measured.lost)
	logLateness(t, "deadline after the rebuild", measured.kept)
	return measured
}

func logLateness(t testing.TB, what string, late []time.Duration) {
	if len(late) == 0 {
		t.Logf("  %s: none", what)
		return
	}
	late = slices.Sorted(slices.Values(late))
	t.Logf("  %s: %d holds lapsed late by min %s, median %s, max %s", what, len(late),
		late[0].Round(time.Millisecond), late[len(late)/2].Round(time.Millisecond), late[len(late)-1].Round(time.Millisecond))
}

// Redis at maxmemory (noeviction) refuses writes: nothing is lost for it, the
// write is tried again once Redis takes writes.

func TestAnOrderIsScheduledOnceRedisTakesWritesAgain(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	s.waitMarked("the schedule is complete at start")
	// One order first, so that what Redis refuses below is the job's own
	// write, not asynq registering its queue on its first enqueue.
	first := testenv.RandomName("first")
	s.orderCreated(first, time.Now().Add(time.Hour))
	s.waitJob(first, "scheduled")

	s.refuseWrites(true)
	id := testenv.RandomName("order")
	at := time.Now().Add(8 * time.Second)
	s.orderCreated(id, at)
	require.Eventually(t, func() bool { return s.triedToSchedule(id) }, 30*time.Second, 20*time.Millisecond,
		"the listener tries to schedule the order while Redis refuses writes")
	s.refuseWrites(false)
	// The order:created was not acked: it comes back and is scheduled.
	lateness := s.waitExpired(id, at)
	assert.Less(t, lateness, generousLateness)
	t.Logf("an order:created refused by Redis at maxmemory lapsed %s after its deadline", lateness.Round(time.Millisecond))
}

func TestARebuildIsRetriedUntilRedisTakesWrites(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	ctx := testenv.Context(t)
	id, at := s.openHold(6 * time.Second)

	s.refuseWrites(true)
	require.NoError(t, s.rdb.FlushAll(ctx).Err())
	require.Eventually(t, func() bool { return s.errors("EXECABORT") >= 2 }, 30*time.Second, 20*time.Millisecond,
		"the rebuild is refused, and tried again")
	assert.Zero(t, s.rdb.Exists(ctx, markerKey).Val(), "no marker without a rebuilt schedule")
	s.refuseWrites(false)

	lateness := s.waitExpired(id, at)
	assert.Less(t, lateness, generousLateness)
	t.Logf("a hold lost while Redis refused writes lapsed %s after its deadline", lateness.Round(time.Millisecond))
}

// refuseWrites makes Redis refuse every write as at maxmemory, or take them again.
func (s *system) refuseWrites(refuse bool) {
	s.t.Helper()
	ctx := testenv.Context(s.t)
	limit := "0"
	if refuse {
		limit = "1"
		require.NoError(s.t, s.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
		// The slow log keeps every command from now on (triedToSchedule).
		require.NoError(s.t, s.rdb.ConfigSet(ctx, "slowlog-max-len", "100000").Err())
		require.NoError(s.t, s.rdb.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err())
	}
	require.NoError(s.t, s.rdb.ConfigSet(ctx, "maxmemory", limit).Err())
}

// triedToSchedule reports whether Redis has run the script that writes the
// order's job since refuseWrites(true).
func (s *system) triedToSchedule(orderID string) bool {
	entries, err := s.rdb.SlowLogGet(testenv.Context(s.t), -1).Result()
	require.NoError(s.t, err)
	for _, e := range entries {
		for _, arg := range e.Args {
			if strings.HasSuffix(arg, ":t:"+orderID) {
				return true
			}
		}
	}
	return false
}

// errors returns how many replies Redis has answered with the error code.
func (s *system) errors(code string) int {
	info, err := s.rdb.Info(testenv.Context(s.t), "errorstats").Result()
	require.NoError(s.t, err)
	for _, line := range strings.Split(info, "\n") {
		if count, ok := strings.CutPrefix(strings.TrimSpace(line), "errorstat_"+code+":count="); ok {
			n, err := strconv.Atoi(count)
			require.NoError(s.t, err)
			return n
		}
	}
	return 0
}
