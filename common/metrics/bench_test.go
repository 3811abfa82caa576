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
	for _, tc := range []struct {
		name string
		set  *metrics.Set
	}{{"off", nil}, {"on", metrics.New("bench")}} {
		b.Run(tc.name, func(b *testing.B) {
			r := chi.NewRouter()
			r.Use(tc.set.Middleware()...)
			r.Route("/api/orders", func(r chi.Router) {
				r.Get("/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
			})
			tc.set.Serve(r)
			req := httptest.NewRequest(http.MethodGet, "/api/orders/6b10ade3a23d4599cb957958", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
