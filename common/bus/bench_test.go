package bus_test

// The bus benchmark: publish→handled latency and throughput of each
// transport, at 1 and 8 concurrent publishers, each against a server of its
// own on a file store. Run it as `make bench-bus` does:
//
//	go test -run '^$' -bench BenchmarkBus -benchtime 3000x ./bus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

func BenchmarkBus(b *testing.B) {
	for _, tr := range transports {
		for _, publishers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/publishers=%d", tr.name, publishers), func(b *testing.B) { benchBus(b, tr, publishers) })
		}
	}
}

// latencies records, per event, the time from Publish being called to its
// handler running, first delivery only.
type latencies struct {
	mu      sync.Mutex
	started map[string]time.Time
	got     []time.Duration
	want    int
	done    chan struct{}
}

func (l *latencies) publishing(id string) {
	l.mu.Lock()
	l.started[id] = time.Now()
	l.mu.Unlock()
}

func (l *latencies) handle(_ context.Context, m bus.Message) error {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	start, ok := l.started[m.ID]
	if !ok {
		return nil // the warm-up event, or a second delivery
	}
	delete(l.started, m.ID)
	l.got = append(l.got, now.Sub(start))
	if len(l.got) == l.want {
		close(l.done)
	}
	return nil
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := slices.Clone(l.got)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func benchClient(b *testing.B, tr transport, url string) *bus.Client {
	cfg := tr.busConfig(url)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	c := bus.New(cfg)
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.WaitConnected(testenv.Context(b)); err != nil {
		b.Fatal(err)
	}
	return c
}

func benchBus(b *testing.B, tr transport, publishers int) {
	// A server of its own, on a file store for both transports (the shared
	// NATS Streaming server keeps its channels in memory).
	url := tr.restartable(b).URL
	publisher, consumer := benchClient(b, tr, url), benchClient(b, tr, url)
	subject := events.Subject(testenv.RandomName("bench"))
	lat := &latencies{started: map[string]time.Time{}, want: b.N, done: make(chan struct{})}
	warm := make(chan struct{}, 1)
	err := consumer.Subscribe(bus.Subscription{Subject: subject, Queue: testenv.RandomName("bench"),
		Handler: func(ctx context.Context, m bus.Message) error {
			if strings.HasPrefix(m.ID, "warm-up") {
				select {
				case warm <- struct{}{}:
				default:
				}
				return nil
			}
			return lat.handle(ctx, m)
		}})
	if err != nil {
		b.Fatal(err)
	}
	envelope := func(id string) events.Envelope {
		return events.Envelope{ID: id, Subject: subject, OccurredAt: time.Now().UTC(), Data: []byte(`{"id":"t1","price":2050}`)}
	}
	// The subscription is live once the warm-up event came through. Its id
	// is new each time: JetStream would drop a second "warm-up".
	if err := publisher.Publish(testenv.Context(b), envelope(testenv.RandomName("warm-up"))); err != nil {
		b.Fatal(err)
	}
	<-warm

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range publishers {
		wg.Go(func() {
			for i := w; i < b.N; i += publishers {
				e := envelope(testenv.RandomName("event"))
				lat.publishing(e.ID)
				if err := publisher.Publish(testenv.Context(b), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-lat.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("handled %d of %d events", len(lat.got), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(lat.quantile(0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat.quantile(0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
