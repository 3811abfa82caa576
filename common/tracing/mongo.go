package tracing

import (
	"context"
	"sync"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Monitor returns a MongoDB command monitor that records a client span per
// command ("find tickets", "update orders"), with the database, collection
// and operation as attributes — never the command's filter or documents,
// which hold emails and ids. Only a command sent on behalf of something
// traced gets a span: the outbox relay's idle polling, once a second, is not
// worth a trace of its own. Nil when t is nil.
func (t *Tracing) Monitor() *event.CommandMonitor {
	if t == nil {
		return nil
	}
	m := &mongoMonitor{tracer: t.tracer}
	return &event.CommandMonitor{Started: m.started, Succeeded: m.succeeded, Failed: m.failed}
}

type mongoMonitor struct {
	tracer trace.Tracer
	spans  sync.Map // spanKey → trace.Span, from start to end
}

// spanKey tells the commands of different connections apart: request ids
// are unique per client, connection ids per pool.
type spanKey struct {
	conn string
	req  int64
}

func (m *mongoMonitor) started(ctx context.Context, e *event.CommandStartedEvent) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	collection := commandCollection(e.CommandName, e.Command)
	name := e.CommandName
	attrs := []attribute.KeyValue{
		semconv.DBSystemNameMongoDB,
		semconv.DBNamespace(e.DatabaseName),
		semconv.DBOperationName(e.CommandName),
	}
	if collection != "" {
		name += " " + collection
		attrs = append(attrs, semconv.DBCollectionName(collection))
	}
	_, span := m.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	m.spans.Store(spanKey{e.ConnectionID, e.RequestID}, span)
}

func (m *mongoMonitor) succeeded(_ context.Context, e *event.CommandSucceededEvent) {
	if s, ok := m.spans.LoadAndDelete(spanKey{e.ConnectionID, e.RequestID}); ok {
		s.(trace.Span).End()
	}
}

func (m *mongoMonitor) failed(_ context.Context, e *event.CommandFailedEvent) {
	if s, ok := m.spans.LoadAndDelete(spanKey{e.ConnectionID, e.RequestID}); ok {
		span := s.(trace.Span)
		span.SetStatus(codes.Error, e.Failure)
		span.End()
	}
}

// commandCollection is the collection a command names: the value of its
// first element for the commands that work on one (find, insert, update,
// delete, aggregate, count, ...); empty for the others (ping, hello).
func commandCollection(command string, doc bson.Raw) string {
	v, err := doc.LookupErr(command)
	if err != nil {
		return ""
	}
	s, ok := v.StringValueOK()
	if !ok {
		return ""
	}
	return s
}
