//go:build tools

// Package tools pins the servers that tests and the local runner start on
// loopback where no Docker engine is available. `make tools` builds them into bin/.
package tools

import (
	_ "github.com/nats-io/nats-streaming-server"
	_ "github.com/stripe/stripe-mock"
)
