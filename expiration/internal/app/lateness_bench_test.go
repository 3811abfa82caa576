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

// BenchmarkLatenessAfterRedisLoss measures how late holds lapse when Redis
// loses its data (FLUSHALL) with 20 holds open, their deadlines from 100 ms to
// 4.5 s after the loss, with the default 1 s check intervals: one loss per
// iteration, each against fresh servers.
//
//	go test -run '^$' -bench LatenessAfterRedisLoss -benchtime 3x ./expiration/internal/app
func BenchmarkLatenessAfterRedisLoss(b *testing.B) {
	var rebuilt, lost, all []time.Duration
	for range b.N {
		s := newSystem(b, false)
		s.start()
		m := s.holdsLapseAfter(s.flushAll, "FLUSHALL")
		rebuilt = append(rebuilt, m.rebuilt)
		lost = append(lost, m.lost...)
		all = append(append(all, m.lost...), m.kept...)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(slices.Max(rebuilt)), "ms-rebuilt-max")
	if len(lost) > 0 {
		b.ReportMetric(ms(slices.Max(lost)), "ms-late-max-lost")
	}
	b.ReportMetric(ms(slices.Max(all)), "ms-late-max")
	b.ReportMetric(0, "ns/op")
}
