// Command busmove copies events from NATS Streaming into JetStream's stream,
// for the move from one transport to the other (docs/events.md, "Moving from
// NATS Streaming to JetStream").
//
// For each queue group (-queue, repeatable; default every service's) and each
// channel it consumes, it joins the group's durable queue subscription on
// NATS Streaming, so it receives exactly what the group has not acked, and
// publishes each message unchanged to ticketing.<channel> with the event id
// as Nats-Msg-Id. Only after JetStream confirmed the copy does it ack the
// message on NATS Streaming, for the group. A second run therefore finds
// nothing left to copy, and a copy of an event that is already in the stream
// (another group's copy, the relay's own publication, an interrupted run) is
// dropped by the broker within its duplicate window.
//
// With -since it copies instead the history of the -subject channels
// (repeatable) stored since then, acking nothing: the history that services
// replay (session:revoked for the revocation list, order:* for expiration's
// rebuild).
//
//	STAN_URL=nats://nats:4222 NATS_URL=nats://jetstream:4222 NATS_USER=redrive NATS_PASSWORD=... busmove
//	STAN_URL=... NATS_URL=... busmove -queue orders-service
//	STAN_URL=... NATS_URL=... busmove -since 12h -subject session:revoked
//
// It prints one line per (group, channel) or channel copied and exits 1 on
// any error. It connects to both brokers as NATS_USER and NATS_PASSWORD
// (redrive, the user that may publish on every channel), or to NATS
// Streaming as STAN_USER and STAN_PASSWORD where they differ.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"ticketing.dev/common/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "busmove:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	m, err := connect(ctx, o)
	if err != nil {
		return err
	}
	defer m.close()
	if o.since > 0 {
		return m.copyHistory(ctx, stdout)
	}
	return m.copyUnacked(ctx, stdout)
}

// consumes is who consumes what (docs/events.md, "Subjects"), by queue
// group: the groups busmove moves when no -queue is named. session:revoked
// has a group per process, which starts over from the history on
// JetStream: move it with -since.
var consumes = map[string][]events.Subject{
	"tickets-service":    {events.SubjectOrderCreated, events.SubjectOrderCancelled, events.SubjectOrderCompleted},
	"payments-service":   {events.SubjectOrderCreated, events.SubjectOrderCancelled, events.SubjectOrderCompleted},
	"expiration-service": {events.SubjectOrderCreated, events.SubjectOrderCancelled, events.SubjectOrderCompleted},
	"orders-service":     {events.SubjectTicketCreated, events.SubjectTicketUpdated, events.SubjectExpirationComplete, events.SubjectPaymentCreated},
}

// queueOrder is consumes' groups in a fixed order, for stable output.
var queueOrder = []string{"tickets-service", "orders-service", "payments-service", "expiration-service"}
