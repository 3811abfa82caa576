//go:build tools

// Package tools pins the servers that tests and the local runner start on
// loopback where no Docker engine is available, and the linters `make lint`
// runs. `make tools` and `make lint` build them into bin/.
package tools

import (
	_ "github.com/fzipp/gocyclo/cmd/gocyclo"
	_ "github.com/nats-io/nats-streaming-server"
	_ "github.com/stripe/stripe-mock"
)
