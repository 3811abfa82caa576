package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Carrier is a trace context as it is stored beside data that travels or
// waits: W3C keys (traceparent, tracestate) to their values. An event's
// envelope holds one (events.Envelope.Trace), and so does an outbox entry
// and an expiry job, so the span that handles them hours later continues
// the trace of the request that caused them.
type Carrier map[string]string

// Inject returns the trace context of ctx's span; nil when ctx has none,
// so an envelope written without tracing carries nothing.
func Inject(ctx context.Context) Carrier {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := Carrier{}
	Propagator.Inject(ctx, propagation.MapCarrier(c))
	return c
}

// Extract returns ctx with c's span context as its remote parent; ctx
// itself when c holds none (an envelope from before tracing).
func Extract(ctx context.Context, c Carrier) context.Context {
	if len(c) == 0 {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier(c))
}

// The log attributes of the active span.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// LogAttrs are the trace_id and span_id of ctx's span, for a logger's With;
// none without one.
func LogAttrs(ctx context.Context) []any {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []any{slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String())}
}

// LogHandler wraps h so that every record logged with a context that holds
// a span (InfoContext, Log(ctx, ...)) carries its trace_id and span_id:
// from a log line to the trace, and back.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
