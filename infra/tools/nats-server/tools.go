//go:build tools

// Package tools pins the NATS server that runs JetStream for the tests and
// the local runner (EVENT_BUS=jetstream). It is a module of its own because
// nats-streaming-server v0.25.6, in ../go.mod, holds nats-server at v2.9,
// whose JetStream predates what nats.go's jetstream package expects.
package tools

import _ "github.com/nats-io/nats-server/v2"
