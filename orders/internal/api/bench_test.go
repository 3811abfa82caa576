package api_test

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ticketing.dev/common/apitest"
	"ticketing.dev/orders/internal/ordertest"
)

// The reservation benchmarks go through the whole HTTP handler (session,
// decoding, the conditional update on the replica, the order insert with its
// event) against the test database server, and report
//
//	reservations/s  successful reservations per second
//	attempts/s      requests per second (contended: most of them lose)
//	p99-ms          99th percentile request latency
//
// Run: PATH=$PWD/bin:$PATH go test -run '^$' -bench Reserve ./orders/internal/api/

const contenders = 50

func BenchmarkReserveUncontended(b *testing.B) {
	e := ordertest.New(b, ordertest.Quiet(), ordertest.Uncapped())
	tokens := tokenPool(e, 64)
	tickets := make([]string, b.N)
	for i := range tickets {
		tickets[i] = e.ListTicket("seller", fmt.Sprint("Concert ", i), 1000)
	}
	var next atomic.Int64
	rec := &latencies{}
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			rec.observe(e, tokens[i%int64(len(tokens))], tickets[i])
		}
	})
	rec.report(b, time.Since(start))
	if rec.wins.Load() != int64(b.N) {
		b.Fatalf("%d of %d uncontended reservations succeeded", rec.wins.Load(), b.N)
	}
}

func BenchmarkReserveContended(b *testing.B) {
	e := ordertest.New(b, ordertest.Quiet(), ordertest.Uncapped())
	tokens := tokenPool(e, contenders)
	rounds := (b.N + contenders - 1) / contenders
	tickets := make([]string, rounds)
	for i := range tickets {
		tickets[i] = e.ListTicket("seller", fmt.Sprint("Concert ", i), 1000)
	}
	rec := &latencies{}
	b.ResetTimer()
	start := time.Now()
	for _, ticketID := range tickets {
		// contenders buyers go for one ticket at the same moment.
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for _, token := range tokens {
			wg.Go(func() { <-gate; rec.observe(e, token, ticketID) })
		}
		close(gate)
		wg.Wait()
	}
	rec.report(b, time.Since(start))
	if rec.wins.Load() != int64(rounds) {
		b.Fatalf("%d reservations for %d tickets", rec.wins.Load(), rounds)
	}
}

func tokenPool(e *ordertest.Env, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = e.User(fmt.Sprint("bench-buyer-", i))
	}
	return out
}

type latencies struct {
	mu       sync.Mutex
	took     []time.Duration
	wins     atomic.Int64
	failures atomic.Int64
}

func (l *latencies) observe(e *ordertest.Env, token, ticketID string) {
	start := time.Now()
	res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(token))
	took := time.Since(start)
	switch {
	case err != nil, res.Status != http.StatusCreated && res.Status != http.StatusConflict:
		l.failures.Add(1)
	case res.Status == http.StatusCreated:
		l.wins.Add(1)
	}
	l.mu.Lock()
	l.took = append(l.took, took)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	b.StopTimer()
	if n := l.failures.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	slices.Sort(l.took)
	p99 := l.took[int(math.Ceil(0.99*float64(len(l.took))))-1] // nearest rank
	b.ReportMetric(float64(l.wins.Load())/elapsed.Seconds(), "reservations/s")
	b.ReportMetric(float64(len(l.took))/elapsed.Seconds(), "attempts/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}
