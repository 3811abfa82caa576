// Package listeners keeps one hold per open order: order:created schedules its
// expiry job; order:cancelled and order:completed remove it early.
package listeners

import (
	"context"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
	"ticketing.dev/expiration/internal/expiry"
)

// Queue is expiration's queue group (and durable name) on every subject.
const Queue = "expiration-service"

// maxDeliveries is how often an event may fail before it is parked. Nearly
// every failure here is Redis being unreachable, which the bus retries without
// parking; this bounds the rest at about ten minutes (at bus.DefaultAckWait),
// so a Redis error nobody classified as an outage yet does not park the holds
// of every order created meanwhile.
const maxDeliveries = 60

// Holds is where the expiry jobs live (store.Holds).
type Holds interface {
	Schedule(ctx context.Context, h expiry.Hold) error
	Cancel(ctx context.Context, orderID string) error
}

// Subscriptions are expiration's handlers, one per order subject.
func Subscriptions(holds Holds) []bus.Subscription {
	h := handlers{holds: holds}
	return []bus.Subscription{
		bus.On(Queue, h.orderCreated, bus.MaxDeliveries(maxDeliveries)),
		bus.On(Queue, h.orderCancelled, bus.MaxDeliveries(maxDeliveries)),
		bus.On(Queue, h.orderCompleted, bus.MaxDeliveries(maxDeliveries)),
	}
}

type handlers struct {
	holds Holds
}

// orderCreated schedules the hold. A redelivery finds the job already there
// and is acked.
func (h handlers) orderCreated(ctx context.Context, e events.OrderCreated) error {
	hold, err := expiry.FromOrderCreated(e)
	if err != nil {
		return err
	}
	hold.Trace = tracing.Inject(ctx)
	return h.holds.Schedule(ctx, hold)
}

// orderCancelled removes the hold of an order cancelled before it lapsed. If
// the cancellation overtakes the order:created, the job scheduled afterwards
// still fires, and orders ignores an expiry for a cancelled order.
func (h handlers) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return h.holds.Cancel(ctx, e.ID)
}

// orderCompleted removes the hold of a paid order.
func (h handlers) orderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return h.holds.Cancel(ctx, e.ID)
}
