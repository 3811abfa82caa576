package tracing

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
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
// never the raw path, which carries ids. It carries the method, the route
// and the status, and nothing of the request that could name a person (no
// path, query, address or user agent). None when t is nil.
func (t *Tracing) Middleware() []func(http.Handler) http.Handler {
	if t == nil {
		return nil
	}
	return []func(http.Handler) http.Handler{t.serve}
}

// serve is the server span's middleware: lighter than otelhttp's, whose
// dozen attributes per span cost more to record and export than the span.
func (t *Tracing) serve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		ctx := Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method)))
		defer span.End()
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r.WithContext(ctx))
		name, route := spanName(r)
		status := ww.Status()
		span.SetName(name)
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if route != "" {
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		if status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	})
}

// spanName is a request's span name once routing is done, and its route:
// the method and chi's pattern; "unmatched" for a request no route took (no
// pattern, or a mounted subrouter's "/*" that matched nothing below it).
func spanName(r *http.Request) (name, route string) {
	rc := chi.RouteContext(r.Context())
	if rc == nil || rc.RoutePattern() == "" {
		return r.Method + " " + unmatchedRoute, ""
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
