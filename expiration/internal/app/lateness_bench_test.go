package app_test

import (
	"slices"
	"testing"
	"time"

	"ticketing.dev/common/testenv"
)

// BenchmarkHoldLateness measures how late holds lapse: from an order's
// expiresAt to its expiration:complete arriving at a subscriber, through real
// Redis and NATS Streaming, with the default 1 s check interval. Deadlines are
// spread over several seconds so they fall at every phase of asynq's polling.
//
//	go test -run '^$' -bench HoldLateness -benchtime 40x ./expiration/internal/app
func BenchmarkHoldLateness(b *testing.B) {
	s := newSystem(b, false)
	s.start()
	start := time.Now().Add(1500 * time.Millisecond)
	deadlines := make(map[string]time.Time, b.N)
	for i := range b.N {
		id := testenv.RandomName("bench")
		deadlines[id] = start.Add(time.Duration(i) * 137 * time.Millisecond)
		s.orderCreated(id, deadlines[id])
	}
	late := make([]time.Duration, 0, b.N)
	for id, at := range deadlines {
		late = append(late, s.waitExpired(id, at))
	}
	slices.Sort(late)
	pct := func(p float64) float64 { return float64(late[int(p*float64(len(late)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.5), "ms-late-p50")
	b.ReportMetric(pct(0.95), "ms-late-p95")
	b.ReportMetric(pct(1), "ms-late-max")
	b.ReportMetric(0, "ns/op")
}
