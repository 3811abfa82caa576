package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/apptest"
)

// BenchmarkCancellationWhileStripeHangs publishes b.N order:cancelled for
// paid orders at once, while every refund hangs at Stripe (until the
// harness's 2 s call timeout), and measures when each is recorded on its
// charge — through NATS Streaming, the handler, FerretDB. The handler only
// records, so the backlog drains at the database's pace, not Stripe's (a
// handler that refunded inline would take the call timeout per event, one
// event at a time). ms-per-event is the drain time over b.N.
//
//	go test -run '^$' -bench CancellationWhileStripeHangs -benchtime 50x ./payments/internal/app
func BenchmarkCancellationWhileStripeHangs(b *testing.B) {
	h := apptest.New(b, apptest.Options{})
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = h.PaidOrder("buyer", 2000)
	}
	hold := make(chan struct{})
	defer close(hold)
	for range b.N {
		h.Stripe.Next("/v1/refunds", stripestandin.Fault{Status: 500, Message: "held", Hold: hold})
	}

	b.ResetTimer()
	published := make([]time.Time, b.N)
	for i, id := range ids {
		published[i] = time.Now()
		cancel(h, id)
	}
	took := make([]time.Duration, b.N)
	for i, id := range ids {
		require.Eventually(b, func() bool { return h.Charge(id).RefundDue }, testenv.Wait, 5*time.Millisecond)
		took[i] = time.Since(published[i])
	}
	b.StopTimer()
	slices.Sort(took)
	pct := func(p float64) float64 { return float64(took[int(p*float64(len(took)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.5), "ms-recorded-p50")
	b.ReportMetric(pct(0.99), "ms-recorded-p99")
	b.ReportMetric(pct(1), "ms-recorded-max")
	b.ReportMetric(pct(1)/float64(b.N), "ms-per-event")
	b.ReportMetric(0, "ns/op")
}
