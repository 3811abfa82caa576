package app_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testenv"
)

func TestMetricsCountHoldsLapsedAndHowLate(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	expiresAt := time.Now().Add(time.Second)
	ids := []string{testenv.RandomName("order"), testenv.RandomName("order")}
	for _, id := range ids {
		s.orderCreated(id, expiresAt)
	}
	for _, id := range ids {
		s.waitExpired(id, expiresAt)
	}

	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", s.port))
	by := []string{"by", metrics.LapsedByExpiration}
	var m metricstest.Samples
	require.Eventually(t, func() bool {
		m = metricstest.Read(t, api)
		return m.Value(metrics.HoldsLapsed, by...) == 2
	}, 10*time.Second, 20*time.Millisecond, "both holds counted once they lapsed")
	assert.Equal(t, 2.0, m.Value(metrics.HoldLapseLateness, by...), "with how late each was")
	sum := m[metrics.HoldLapseLateness].GetMetric()[0].GetHistogram().GetSampleSum()
	assert.Less(t, sum, 2*generousLateness.Seconds(), "lateness, not the window")
	subject := []string{"subject", string(events.SubjectExpirationComplete)}
	assert.Equal(t, 2.0, m.Value(metrics.EventsPublished, subject...), "expiration publishes without an outbox, and is counted")
	assert.Equal(t, 2.0, m.Value(metrics.EventsHandled, "subject", string(events.SubjectOrderCreated)))
	metricstest.RequireBounded(t, m, []string{"/healthz", "/readyz", metrics.Path}, ids...)
}

// The ExpirationRedisNearlyFull alert divides two gauges expiration reads
// from Redis's INFO memory at every scrape: they are Redis's own figures,
// its cap as CONFIG SET changed it and its use as it grew.
func TestMetricsReportRedisMemoryAndItsCap(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", s.port))
	ctx := testenv.Context(t)
	const limit = 256 << 20
	require.NoError(t, s.rdb.ConfigSet(ctx, "maxmemory", strconv.Itoa(limit)).Err())

	m := metricstest.Read(t, api)
	assert.Equal(t, float64(limit), m.Value(metrics.RedisMemoryMax), "Redis's maxmemory")
	before := m.Value(metrics.RedisMemoryUsed)
	assert.InDelta(t, s.usedMemory(), before, 1<<20, "Redis's used_memory, give or take what asynq's polling moves")

	// 4 MiB more in Redis is at least 4 MiB more on the gauge (Redis also
	// keeps the buffer the command came in for a while).
	require.NoError(t, s.rdb.Set(ctx, testenv.RandomName("ballast"), strings.Repeat("x", 4<<20), 0).Err())
	m = metricstest.Read(t, api)
	assert.InDelta(t, s.usedMemory(), m.Value(metrics.RedisMemoryUsed), 1<<20)
	assert.GreaterOrEqual(t, m.Value(metrics.RedisMemoryUsed), before+4<<20)
	assert.Zero(t, m.Value(metrics.RedisScrapeErrors))
	metricstest.RequireBounded(t, m, []string{"/healthz", "/readyz", metrics.Path})
}

// While Redis is away a scrape still answers, within its deadline, without
// the two gauges (Prometheus marks them stale: no old figure passes for a
// current one) and counting the failed read; the service keeps running and
// the gauges come back with Redis.
func TestARedisOutageLeavesTheMemoryGaugesAbsentAndTheServiceRunning(t *testing.T) {
	s := newSystem(t, true)
	s.start()
	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", s.port))
	require.True(t, metricstest.Read(t, api).Has(metrics.RedisMemoryUsed))

	s.redis.Stop(t)
	for range 3 {
		start := time.Now()
		m := metricstest.Read(t, api)
		assert.Less(t, time.Since(start), 3*time.Second, "the read is bounded by the scrape deadline (2 s)")
		assert.False(t, m.Has(metrics.RedisMemoryUsed), "no used memory while Redis is away")
		assert.False(t, m.Has(metrics.RedisMemoryMax), "no cap while Redis is away")
		assert.True(t, m.Has("go_goroutines"), "the rest of the scrape is served")
	}
	// A scrape counts its own failed read as it collects, so it may show it
	// or not yet: the three before it are counted.
	assert.GreaterOrEqual(t, metricstest.Read(t, api).Value(metrics.RedisScrapeErrors), 3.0, "each failed read is counted")
	assert.Equal(t, http.StatusOK, s.get("/healthz"), "the process serves on")
	assert.Equal(t, http.StatusServiceUnavailable, s.get("/readyz"))

	s.redis.Start(t)
	require.Eventually(t, func() bool { return s.get("/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond)
	m := metricstest.Read(t, api)
	assert.True(t, m.Has(metrics.RedisMemoryUsed), "the gauges come back with Redis")
	assert.InDelta(t, s.usedMemory(), m.Value(metrics.RedisMemoryUsed), 1<<20)
}

// usedMemory is Redis's used_memory, read by the test itself.
func (s *system) usedMemory() float64 {
	s.t.Helper()
	info, err := s.rdb.Info(testenv.Context(s.t), "memory").Result()
	require.NoError(s.t, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseFloat(v, 64)
			require.NoError(s.t, err)
			return n
		}
	}
	s.t.Fatal("INFO memory has no used_memory")
	return 0
}
