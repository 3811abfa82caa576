package bus

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
)

// messagingSystem names the broker on every span of the bus.
var messagingSystem = semconv.MessagingSystemKey.String("nats_streaming")

// Outcomes of handling a delivery, the attribute ticketing.event.outcome of
// its span.
const (
	outcomeAcked       = "acked"
	outcomeParked      = "parked"
	outcomeRedelivered = "redelivered"
)

// startPublish starts the span of publishing e: a child of the trace context
// e carries (an outbox entry's, stored by the write that queued the event,
// perhaps minutes ago), else of ctx's span. e then carries the publishing
// span's own context, which the handlers continue. Without tracing here, e
// keeps what it carries.
func (c *Client) startPublish(ctx context.Context, e *events.Envelope) (context.Context, trace.Span) {
	ctx = tracing.Extract(ctx, e.Trace)
	ctx, span := c.tracer.Start(ctx, "publish "+string(e.Subject), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingSystem, semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationName(string(e.Subject)), semconv.MessagingMessageID(e.ID)))
	if span.IsRecording() {
		e.Trace = tracing.Inject(ctx)
	}
	return ctx, span
}

// endSpan ends span, marking it failed with err if there is one.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// startHandling starts the span of handling one delivery of msg: a child of
// the span that published it, carried in its envelope; the root of a trace
// of its own for an envelope that carries none. The context lives as long
// as the client's handlers do.
func (c *Client) startHandling(s *Subscription, msg Message) (context.Context, trace.Span) {
	ctx := tracing.Extract(c.handlerCtx, msg.Trace)
	return c.tracer.Start(ctx, "handle "+string(s.Subject), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(messagingSystem, semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(string(s.Subject)), semconv.MessagingMessageID(msg.ID),
			semconv.MessagingConsumerGroupName(s.Queue), attribute.Int("ticketing.event.deliveries", msg.Deliveries)))
}

// endHandling ends the span of a delivery with what became of it: acked,
// parked, or left for the broker to redeliver (with the last error).
func endHandling(span trace.Span, done bool, err error) {
	outcome := outcomeAcked
	switch {
	case done && err != nil:
		outcome = outcomeParked
	case !done:
		outcome = outcomeRedelivered
	}
	span.SetAttributes(attribute.String("ticketing.event.outcome", outcome))
	endSpan(span, err)
}
