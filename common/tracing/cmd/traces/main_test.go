package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/tracing/otlpreceiver"
)

func TestATraceIsPrintedAsATreeOnceQuietAndAgainWhenItGrows(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	span := func(id, parent, service, name string, start time.Duration) otlpreceiver.Span {
		return otlpreceiver.Span{TraceID: "t1", SpanID: id, ParentID: parent, Service: service, Name: name,
			Start: at.Add(start), End: at.Add(start + time.Millisecond)}
	}
	spans := []otlpreceiver.Span{
		span("a", "browser", "orders", "POST /api/orders", 0),
		span("b", "a", "orders", "publish order:created", 2*time.Millisecond),
		span("c", "b", "tickets", "handle order:created", 3*time.Millisecond),
	}
	var out bytes.Buffer
	p := printer{out: &out, quiet: time.Second, printed: map[string]int{}}
	p.printQuiet(spans, at.Add(500*time.Millisecond))
	assert.Empty(t, out.String(), "not quiet yet")
	p.printQuiet(spans, at.Add(2*time.Second))
	assert.Equal(t, `
trace t1: 3 spans, 2 services
  +   0.000s       1ms  orders      POST /api/orders
  +   0.002s       1ms    orders      publish order:created
  +   0.003s       1ms      tickets     handle order:created
`, out.String())
	p.printQuiet(spans, at.Add(3*time.Second))
	assert.Equal(t, 1, strings.Count(out.String(), "trace t1"), "printed once")
	spans = append(spans, span("d", "c", "expiration", "fire order:expire", 15*time.Minute))
	p.printQuiet(spans, at.Add(16*time.Minute))
	assert.Equal(t, 2, strings.Count(out.String(), "trace t1"), "printed again, whole, once it grew")
	assert.Contains(t, out.String(), "+ 900.000s       1ms        expiration  fire order:expire")
}
