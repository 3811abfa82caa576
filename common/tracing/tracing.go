// Package tracing is what every service records for OpenTelemetry: a span
// per HTTP request served (Middleware) and sent (Client), per database
// command (Monitor), and — through common/bus — per event published and
// handled, all joined into one trace by the W3C trace context, which travels
// in HTTP headers and, since NATS Streaming has no headers, inside the event
// envelope (Inject, Extract; docs/observability.md, "Traces").
//
// common/service builds one Tracing per service (New) from
// OTEL_EXPORTER_OTLP_ENDPOINT: set, spans are batched and exported over OTLP
// gRPC under the service's name; empty, New returns nil, and a nil *Tracing
// records nothing and costs nothing: its middleware is none, its client the
// one it was given, its tracer OpenTelemetry's no-op one.
package tracing

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// EndpointEnv names the OTLP gRPC endpoint (http://host:port) spans go to;
// the OpenTelemetry SDK's own variables (OTEL_BSP_SCHEDULE_DELAY,
// OTEL_TRACES_SAMPLER, ...) tune the rest.
const EndpointEnv = "OTEL_EXPORTER_OTLP_ENDPOINT"

// Scope is the instrumentation scope of every span the services record.
const Scope = "ticketing.dev/common"

// Propagator is the W3C trace context: the traceparent and tracestate
// headers, and the same two keys in an event's envelope.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Tracing is one service's tracer provider; nil records nothing.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// New returns the tracing of service, exporting to endpoint over OTLP gRPC
// in batches; nil, with no exporter at all, when endpoint is empty. Nothing
// here waits for the endpoint: the exporter connects when it first exports.
func New(ctx context.Context, service, endpoint string) (*Tracing, error) {
	if endpoint == "" {
		return nil, nil
	}
	if u, err := url.Parse(endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s=%q is not an http(s)://host:port URL", EndpointEnv, endpoint)
	}
	exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return NewWith(service, sdktrace.WithBatcher(exporter)), nil
}

// NewWith returns the tracing of service with the given span processors
// (tests record spans in memory with sdktrace.WithSyncer).
func NewWith(service string, opts ...sdktrace.TracerProviderOption) *Tracing {
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service))
	p := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...)
	return &Tracing{provider: p, tracer: p.Tracer(Scope)}
}

// Tracer is what spans start from: the no-op tracer when t is nil.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(Scope)
	}
	return t.tracer
}

// Provider is the tracer provider: the no-op one when t is nil.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Shutdown exports what is still batched and stops exporting; common/service
// calls it last at shutdown, after the broker and the stores closed.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
