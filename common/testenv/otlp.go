package testenv

import "ticketing.dev/common/tracing/otlpreceiver"

// OTLP is a real OTLP/gRPC trace receiver on loopback: the services export
// to it through the SDK's own exporter, and tests read what arrived. No
// collector binary is at hand here, and tests need the spans as data.
type OTLP = otlpreceiver.Receiver

// Span is one span as the receiver got it.
type Span = otlpreceiver.Span

// StartOTLP starts a receiver on a free loopback port; Close stops it.
func StartOTLP() (*OTLP, error) { return otlpreceiver.Start("127.0.0.1:0") }
