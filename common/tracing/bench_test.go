package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"ticketing.dev/common/testenv"
	"ticketing.dev/common/tracing"
)

// BenchmarkRequest measures what tracing adds to a request through a chi
// router shaped like a service's: off (no endpoint, a nil Tracing), and on,
// with the SDK's batching, both discarding the spans and exporting them over
// OTLP to a real receiver (whose encoding and sending run beside the
// request, on the same CPUs): the figures docs/observability.md quotes.
func BenchmarkRequest(b *testing.B) {
	b.Run("off", func(b *testing.B) { serveOrders(b, nil) })
	b.Run("on", func(b *testing.B) {
		tr := tracing.NewWith("bench", sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		defer func() { _ = tr.Shutdown(context.Background()) }()
		serveOrders(b, tr)
	})
	b.Run("on-otlp", func(b *testing.B) {
		rx, err := testenv.StartOTLP()
		if err != nil {
			b.Fatal(err)
		}
		defer rx.Close()
		tr, err := tracing.New(context.Background(), "bench", rx.Endpoint)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tr.Shutdown(context.Background()) }()
		serveOrders(b, tr)
	})
}

// serveOrders answers GET /api/orders/{id} b.N times through tr's spans.
func serveOrders(b *testing.B, tr *tracing.Tracing) {
	r := chi.NewRouter()
	r.Use(tr.Middleware()...)
	r.Route("/api/orders", func(r chi.Router) {
		r.Get("/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	})
	req := httptest.NewRequest(http.MethodGet, "/api/orders/6b10ade3a23d4599cb957958", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}
