// Command redrive puts the events the bus parked back onto their subjects
// (bus.Redrive): each record on parked.<queue> is republished with its
// original envelope and event id, and acked on the durable "redrive"
// subscription, so running it again republishes nothing it did already.
//
//	NATS_URL=nats://nats:4222 NATS_USER=redrive NATS_PASSWORD=... redrive -queue orders-service
//	NATS_URL=nats://nats:4222 NATS_USER=redrive NATS_PASSWORD=... redrive -monitor http://nats:8222   # every parked.* channel
//	EVENT_BUS=jetstream NATS_URL=nats://nats:4222 NATS_USER=redrive NATS_PASSWORD=... redrive          # every parked.* subject
//
// It connects as the broker user NATS_USER (redrive, the one user besides the
// services' that may publish on every channel: common/bus, access.go).
//
// Re-drive after fixing what made the events fail: one that fails again is
// parked again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"syscall"
	"time"

	"ticketing.dev/common/bus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "redrive:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("redrive", flag.ContinueOnError)
	flags.SetOutput(stderr)
	natsURL := flags.String("nats", getenv("NATS_URL"), "NATS Streaming URL (default $NATS_URL)")
	cluster := flags.String("cluster", orDefault(getenv("NATS_CLUSTER_ID"), "ticketing"), "NATS Streaming cluster id (default $NATS_CLUSTER_ID)")
	transport := flags.String("bus", orDefault(getenv("EVENT_BUS"), bus.TransportStan), "the bus's transport, stan or jetstream (default $EVENT_BUS)")
	monitor := flags.String("monitor", getenv("NATS_MONITOR_URL"), "the broker's monitoring URL, to find every parked channel when no -queue is named (default $NATS_MONITOR_URL)")
	timeout := flags.Duration("timeout", 2*time.Minute, "give up after this long")
	var queues []string
	flags.Func("queue", "a queue group whose parked events to re-drive (repeatable; default: every parked.* channel)", func(q string) error {
		queues = append(queues, q)
		return nil
	})
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *natsURL == "" {
		return errors.New("no broker: set NATS_URL or -nats")
	}
	if !slices.Contains(bus.Transports, *transport) {
		return fmt.Errorf("EVENT_BUS (-bus) %q is not one of %v", *transport, bus.Transports)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := bus.New(bus.Config{
		Transport: *transport,
		URL:       *natsURL,
		ClusterID: *cluster,
		ClientID:  clientID(),
		User:      getenv("NATS_USER"),
		Password:  getenv("NATS_PASSWORD"),
		Logger:    slog.New(slog.NewTextHandler(stderr, nil)),
	})
	defer c.Close(context.Background())
	if len(queues) == 0 && *transport != bus.TransportJetStream && *monitor == "" {
		return errors.New("name a -queue, or give -monitor (NATS_MONITOR_URL) to re-drive every parked channel")
	}
	if err := c.WaitConnected(ctx); err != nil {
		return err
	}
	if len(queues) == 0 {
		found, err := parkedQueues(ctx, c, *transport, *monitor)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			fmt.Fprintln(stdout, "no parked channels")
			return nil
		}
		queues = found
	}
	reports, err := c.Redrive(ctx, queues...)
	for _, r := range reports {
		fmt.Fprintf(stdout, "%s: republished %d, skipped %d\n", bus.ParkedChannel(r.Queue), r.Republished, r.Skipped)
	}
	return err
}

// parkedQueues finds every queue with a parked channel: JetStream lists
// its subjects itself; NATS Streaming, on its monitoring endpoint.
func parkedQueues(ctx context.Context, c *bus.Client, transport, monitor string) ([]string, error) {
	if transport == bus.TransportJetStream {
		return c.ParkedQueues(ctx)
	}
	return bus.ParkedQueues(ctx, monitor)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// clientID is unique per run; NATS Streaming accepts letters, digits, - and _.
func clientID() string {
	host, _ := os.Hostname()
	host = regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(host, "-")
	return fmt.Sprintf("redrive-%s-%d", host, os.Getpid())
}
