package testenv

import (
	"testing"

	"ticketing.dev/common/tracing/otlpreceiver"
)

// OTLP is a real OTLP/gRPC trace receiver on loopback: the services export
// to it through the SDK's own exporter, and tests read what arrived. No
// collector binary is at hand here, and tests need the spans as data.
type OTLP = otlpreceiver.Receiver

// Span is one span as the receiver got it.
type Span = otlpreceiver.Span

// StartOTLP starts a receiver on a free loopback port; Close stops it.
func StartOTLP() (*OTLP, error) { return otlpreceiver.Start("127.0.0.1:0") }

// NewOTLP starts a receiver for the rest of the test, and shortens the SDK's
// batch delay (OTEL_BSP_SCHEDULE_DELAY, 5 s by default) for the exporters the
// test starts, so spans arrive while it waits for them.
func NewOTLP(t testing.TB) *OTLP {
	t.Helper()
	rx, err := StartOTLP()
	if err != nil {
		t.Fatalf("starting an OTLP receiver: %v", err)
	}
	t.Cleanup(rx.Close)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	return rx
}
