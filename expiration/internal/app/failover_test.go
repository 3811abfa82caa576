package app_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/store"
)

// failoverLateness bounds how late a hold may lapse across a failover: the
// sentinels call the primary down after 1 s, elect a leader and promote the
// replica (a few seconds), then the next delayed check and, for a lost job,
// the rebuild. The figures the test logs are what to watch.
const failoverLateness = 15 * time.Second

// Production runs expiration's Redis as a primary, two replicas and
// sentinels. Killed outright, the primary takes with it what it had not yet
// sent to a replica; the sentinels promote a replica, expiration follows
// them to it (REDIS_SENTINELS), notices by the new server's run id that it
// may have lost writes, and rebuilds. Every hold lapses once: those whose
// jobs the replica had, and one whose job it had not (emulated: deleted just
// before the kill, as the last unreplicated write would be lost).
// Connected to the primary alone (REDIS_URL), no hold would lapse after the
// kill; so would a client that stayed on the primary's address.
func TestHoldsLapseOnceAcrossARedisFailover(t *testing.T) {
	rs := testenv.NewRedisSentinel(t)
	s := &system{t: t, nats: testenv.NewBroker(t), redis: rs.Primary}
	s.bus = s.nats.NewBus(t)
	s.expired = testenv.Record(t, s.bus, events.SubjectExpirationComplete)
	// The test's own view of Redis follows the primary as expiration's does.
	s.rdb = redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: testenv.SentinelMaster, SentinelAddrs: rs.Sentinels,
		Password: rs.Password, SentinelPassword: rs.Password,
	})
	t.Cleanup(func() { _ = s.rdb.Close() })
	s.holds = store.New(s.rdb)
	s.launch(map[string]string{
		"REDIS_URL":         "",
		"REDIS_SENTINELS":   strings.Join(rs.Sentinels, ","),
		"REDIS_MASTER_NAME": testenv.SentinelMaster,
		"REDIS_PASSWORD":    rs.Password,
	})
	require.Eventually(t, func() bool { return s.get("/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond)
	s.waitMarked("the schedule is complete at start")
	// Two caps, the primary's and the replica's (CONFIG SET is not
	// replicated), tell which server the memory gauges read.
	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", s.port))
	const primaryCap, replicaCap = 300 << 20, 400 << 20
	for addr, limit := range map[string]int{rs.Primary.Addr: primaryCap, rs.Replica.Addr: replicaCap} {
		_, err := rs.Command(addr, "CONFIG", "SET", "maxmemory", strconv.Itoa(limit))
		require.NoError(t, err)
	}
	assert.Equal(t, float64(primaryCap), metricstest.Read(t, api).Value(metrics.RedisMemoryMax), "the primary's memory")

	// Deadlines from just after the kill to well after the promotion, whole
	// seconds apart at least 1.5 s away, so no job runs before the kill.
	first := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	deadlines := s.openHolds(8, first, 900*time.Millisecond)
	unreplicated := testenv.RandomName("unreplicated")
	deadlines[unreplicated] = first.Add(500 * time.Millisecond)
	s.orderCreated(unreplicated, deadlines[unreplicated])
	s.waitJob(unreplicated, "scheduled")
	// Both replicas hold every job before the primary goes...
	acked, err := rs.Command(rs.Primary.Addr, "WAIT", "1", "5000")
	require.NoError(t, err)
	require.Equal(t, "1", acked, "the replica has the schedule")
	// ...but one: the write the replica never received.
	require.NoError(t, s.holds.Cancel(testenv.Context(t), unreplicated))
	s.waitJob(unreplicated, "none")

	<-time.After(time.Until(first.Add(-100 * time.Millisecond)))
	killed := time.Now()
	rs.KillPrimary(t)
	require.Eventually(t, func() bool {
		addr, err := rs.PrimaryAddr()
		return err == nil && addr == rs.Replica.Addr
	}, 30*time.Second, 50*time.Millisecond, "the sentinels promote the replica")
	promoted := time.Now()
	s.waitMarked("expiration follows the sentinels to the new primary and rebuilds there")
	rebuilt := time.Now()

	var late []time.Duration
	for id, at := range deadlines {
		lateness := s.waitExpired(id, at)
		assert.Less(t, lateness, failoverLateness, "order %s", id)
		late = append(late, lateness)
	}
	// A repeat would come within a check interval or two of the first.
	<-time.After(3 * time.Second)
	for id := range deadlines {
		assert.Equal(t, 1, len(s.lapses(id)), "order %s lapses once", id)
	}
	assert.Equal(t, http.StatusOK, s.get("/readyz"), "ready on the new primary")
	assert.Equal(t, float64(replicaCap), metricstest.Read(t, api).Value(metrics.RedisMemoryMax),
		"the memory gauges follow the sentinels to the new primary")
	t.Logf("failover: replica promoted %s after the kill, schedule rebuilt %s after the kill; 9 holds (deadlines over 6.3 s from 100 ms after the kill, one lost with the primary)",
		promoted.Sub(killed).Round(time.Millisecond), rebuilt.Sub(killed).Round(time.Millisecond))
	logLateness(t, "across the failover", late)
}
