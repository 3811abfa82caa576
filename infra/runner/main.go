// Command runner runs the whole marketplace on one machine, without Kubernetes:
// the infrastructure (FerretDB, NATS Streaming, Redis, and the Stripe stand-in
// unless a real STRIPE_KEY is given), every service as its own process, the web client, and a
// gateway (nginx, as the ingress is) with exactly the ingress's routes. It
// prints one URL.
//
// Every process's output is prefixed with its name. A process that dies is
// reported and restarted (with backoff; one that keeps dying stops the run).
// Ctrl-C stops everything, in reverse order of start, leaving no process
// behind. Data lives in one folder (.data by default) and survives runs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		os.Exit(1)
	}
}
