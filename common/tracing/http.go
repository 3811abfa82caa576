package tracing

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// untraced are the paths no span is recorded for: the probes and the
// scraper call them every few seconds, and each would be a trace of its own.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// unmatchedRoute names the span of a request that no route took.
const unmatchedRoute = "unmatched"

// Middleware is the middleware that records a server span per request,
// continuing the caller's trace (the traceparent header) if it sent one.
// The span is named after the method and the route's chi pattern ("POST
// /api/orders", "GET /api/orders/{id}"), known only once routing is done:
// never the raw path, which carries ids. None when t is nil.
func (t *Tracing) Middleware() []func(http.Handler) http.Handler {
	if t == nil {
		return nil
	}
	traced := otelhttp.NewMiddleware("http",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(Propagator),
		// Counting requests is common/metrics' job.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untraced[r.URL.Path] }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { name, _ := spanName(r, false); return name }),
	)
	return []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
		return traced(nameByRoute(next))
	}}
}

// nameByRoute renames the request's span after the route chi chose.
// (otelhttp renames it again, through the same spanName, when the request
// carries a Pattern.)
func nameByRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		if !span.IsRecording() {
			return
		}
		name, route := spanName(r, true)
		if route != "" {
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		span.SetName(name)
	})
}

// spanName is a request's span name, and its route: the method and chi's
// pattern once routing is done, the method alone before; "unmatched" for
// a request no route took (no pattern, or a mounted subrouter's "/*").
func spanName(r *http.Request, done bool) (name, route string) {
	rc := chi.RouteContext(r.Context())
	if rc == nil || rc.RoutePattern() == "" {
		if done {
			return r.Method + " " + unmatchedRoute, ""
		}
		return r.Method, ""
	}
	if p := rc.RoutePattern(); !strings.HasSuffix(p, "/*") {
		// chi's "/api/orders/" (a Route's "/") reads as the path people use.
		return r.Method + " " + strings.TrimSuffix(p, "/"), p
	}
	return r.Method + " " + unmatchedRoute, ""
}

// Client returns base (a new client if nil) with a transport that records a
// client span per request it sends, named after the method and the host
// ("POST api.stripe.com"), and sends the trace context along; base itself
// when t is nil. The payments service's Stripe client is one.
func (t *Tracing) Client(base *http.Client) *http.Client {
	if base == nil {
		base = &http.Client{}
	}
	if t == nil {
		return base
	}
	c := *base
	c.Transport = otelhttp.NewTransport(base.Transport,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(Propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Host }),
	)
	return &c
}
