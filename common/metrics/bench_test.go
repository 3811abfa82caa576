package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/metrics"
)

// BenchmarkRequest measures what counting adds to a request through a chi
// router shaped like a service's, against the same router with METRICS=off
// (a nil Set): the figure docs/observability.md quotes.
func BenchmarkRequest(b *testing.B) {
	b.Run("off", func(b *testing.B) { serveOrders(b, nil) })
	b.Run("on", func(b *testing.B) { serveOrders(b, metrics.New("bench")) })
}

// serveOrders answers GET /api/orders/{id} b.N times through set's counting.
func serveOrders(b *testing.B, set *metrics.Set) {
	r := chi.NewRouter()
	r.Use(set.Middleware()...)
	r.Route("/api/orders", func(r chi.Router) {
		r.Get("/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	})
	set.Serve(r)
	req := httptest.NewRequest(http.MethodGet, "/api/orders/6b10ade3a23d4599cb957958", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}
