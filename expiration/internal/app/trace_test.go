package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/common/tracing"
)

// A hold lapses in the trace of the order that started it: the trace context
// of order:created's handling rides in the job's payload through Redis, and
// the job's expiration:complete carries it on. Spans go to a real OTLP
// receiver.
func TestALapseContinuesTheTraceOfItsOrder(t *testing.T) {
	rx := testenv.NewOTLP(t)
	s := newSystem(t, false)
	stop := s.launch(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rx.Endpoint})
	defer stop()
	require.Eventually(t, func() bool { return s.get("/readyz") == 200 }, 30*time.Second, 50*time.Millisecond)

	// order:created as orders' relay would publish it: in the order's trace.
	const traceID, ordersSpan = "5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7"
	id, expiresAt := testenv.RandomName("order"), time.Now().Add(1500*time.Millisecond)
	env, err := events.New(events.OrderCreated{ID: id, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: expiresAt,
		Ticket: events.OrderTicket{ID: "ticket-" + id, Price: 2000}})
	require.NoError(t, err)
	env.Trace = tracing.Carrier{"traceparent": "00-" + traceID + "-" + ordersSpan + "-01"}
	require.NoError(t, s.bus.Publish(testenv.Context(t), env))
	s.waitExpired(id, expiresAt)

	for _, a := range s.expired.Arrivals() {
		if p, _ := events.Decode[events.ExpirationComplete](a.Envelope); p.OrderID == id {
			assert.True(t, strings.HasPrefix(a.Trace["traceparent"], "00-"+traceID+"-"), "the expiry carries the order's trace: %v", a.Trace)
		}
	}
	var handle, fire, publish testenv.Span
	require.Eventually(t, func() bool {
		for _, sp := range rx.Trace(traceID) {
			switch sp.Name {
			case "handle order:created":
				handle = sp
			case "fire order:expire":
				fire = sp
			case "publish expiration:complete":
				publish = sp
			}
		}
		return handle.SpanID != "" && fire.SpanID != "" && publish.SpanID != ""
	}, 10*time.Second, 50*time.Millisecond, "spans of the trace: %v", rx.Trace(traceID))
	assert.Equal(t, ordersSpan, handle.ParentID, "the handling continues the publish")
	assert.Equal(t, handle.SpanID, fire.ParentID, "the job, run later, continues the handling that scheduled it")
	assert.Equal(t, fire.SpanID, publish.ParentID)
	assert.False(t, fire.Start.Before(expiresAt.Truncate(time.Second)), "the job ran when the hold came due")
	assert.Equal(t, "expiration", fire.Service)
}
