// Package bus is the event bus over NATS Streaming (stan.go) or JetStream
// (jetstream.go), chosen by Config.Transport (EVENT_BUS, default stan).
//
// Both transports sit behind one Client: a connection of either kind (the
// conn interface) hands deliveries to the same handling, parking, re-driving
// and replay, and the conformance suite runs every test against both. On
// JetStream every channel is the subject SubjectPrefix+channel of one stream,
// described by StreamConfig and made sure of at connect; each (queue group,
// subject) is a durable pull consumer (ConsumerName) that every member of the
// group pulls from; Publish sends the event id as Nats-Msg-Id, so the broker
// drops a second publication of one event. docs/events.md compares the two.
//
// A Client connects in the background and keeps reconnecting, so a service can
// start before its broker and survive the broker's restarts. Subscriptions are
// durable queue subscriptions with manual acks: a message is acked only after
// its handler returned nil.
//
// # Handling
//
// Each subscription has up to MaxInflight (32) unacked messages, and each runs
// in a goroutine of its own as soon as it arrives, so a slow handler delays
// only its own message. A message is held for at most three quarters of
// AckWait (10 s): every attempt has a context deadline (AttemptTimeout, half
// of AckWait, cut short by the hold), and a message still not done when the
// hold ends is let go unacked, before the broker's AckWait, so the broker never
// redelivers a message whose handler is still running. Should one come anyway
// (a handler that ignores its context, a reconnect), it is dropped and counted
// in Stats.RedeliveredWhileRunning.
//
// # Failures
//
// A handler error means "not done". What happens next depends on its kind:
//
//   - ErrNotYet (a version gap: the event depends on one not applied yet) and
//     an unavailable store or broker (Unavailable, or Config.Transient) are
//     retried in-process with back-off from 5 ms while the message is held, so
//     a gap filled a few milliseconds later is applied at once; after the hold
//     the broker redelivers it. These are never parked, however long they
//     last: parking an event because a database restarted would lose it.
//   - Anything else (a bug, a payload that does not decode, a panic) is not
//     retried in-process: it comes back after AckWait, and after MaxDeliveries
//     (10) such failures it is parked on "parked.<queue>" with the reason, and
//     acked, so one poison message cannot hold a slot for ever. Only these
//     failures count toward parking; they are counted by this process, so a
//     message that moves to another member of the group starts over there
//     (which can only delay parking, never hasten it).
//
// A message that is not done StuckAfter (1 minute) after its first failure is
// logged at Error level, again every StuckAfter, and listed by Client.Stuck
// until it is done. An ordinary gap closes in milliseconds (both events are in
// flight at once), or within one AckWait when the event it waits for was
// itself redelivered; a minute is six AckWaits: a gap that old means the
// event it needs is parked or lost, and an outage that long is worth waking
// someone for. Parked events go back with Redrive (the command
// is in the README, "Parked events").
//
// # Why concurrent handling is safe for our listeners
//
// Two events of one subject, or two deliveries of one event (published twice
// by a relay that crashed before removing it), may now be handled at the same
// time, in any order. Every listener was already written for arbitrary order
// and repetition, because redelivery and queue groups reorder anyway; what
// keeps each correct under concurrency:
//
//   - tickets (order:created/cancelled/completed): every change goes through
//     store.Tickets.Update, a write conditional on the version it read and
//     retried on conflict, so concurrent changes to one ticket serialise; a
//     reservation by order B while order A still holds the ticket is ErrNotYet
//     until A's cancellation is applied, and Release/MarkSold act only for the
//     order they name.
//   - orders (ticket:created/updated, expiration:complete, payment:created):
//     the replica applies ticket version N only on top of N-1 in one
//     conditional update (a concurrent N+1 is ErrNotYet and retried in-process
//     a few milliseconds later); ticket:created is an insert whose duplicate is
//     a no-op; Cancel and Complete are versioned updates of the order, and
//     release and markSold match the order id that holds the ticket.
//   - payments (order:created/cancelled/completed): the replica is versioned
//     the same way (N on N-1, insert-once); settling a cancelled order is
//     guarded by the charge's lease (ErrInProgress) and refunds carry an
//     idempotency key, as they must for the reconciler running alongside.
//   - expiration (order:created/cancelled/completed): the job id is the order
//     id, so two schedules of one order make one job, and cancelling is
//     idempotent; a cancellation that overtakes its order:created leaves a job
//     that fires and that orders ignores for a cancelled order.
//
// # Access
//
// Each service connects as a broker user of its own (Config.User and
// Password, from NATS_USER and NATS_PASSWORD), which may publish only the
// channels it owns and its parked channel: access.go holds the table and
// renders the broker's configuration (ServerConfig) for the local runner, the
// tests and Kubernetes alike; access_jetstream.go derives JetStream's
// permissions from the same table (JetStreamServerConfig).
//
// # Shutdown
//
// On Close the client stops taking messages, waits for running handlers
// (cancelling their context at Close's deadline) and closes the connection. It
// never unsubscribes nor deletes a consumer: the durable queue group keeps its
// position for the next process.
package bus
