// Package listeners keeps payments' replica of orders and records
// cancellations on their charges:
//
//	order:created    the order joins the replica
//	order:cancelled  vN is applied on top of vN-1; then the cancellation is
//	                 recorded on the order's charge (a completed charge's
//	                 refund becomes due) and the refunder is woken
//	order:completed  vN is applied on top of vN-1
//
// Every handler is idempotent: a repeat finds nothing left to do. No handler
// calls Stripe: each is a write or two on payments' own database, so a
// handler's time is the database's, never the provider's (up to 30 s a call),
// and a slow Stripe cannot hold messages past their AckWait.
package listeners

import (
	"context"
	"errors"
	"fmt"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/payment"
)

// Queue is payments' queue group (and durable name) on every subject.
const Queue = "payments-service"

// maxDeliveries is how often an event may fail for a reason the bus does not
// know as an outage before it is parked (an outage itself never parks): about
// ten minutes at the bus's AckWait, so a database error nobody classified yet
// does not park the orders created meanwhile (their buyers could not pay).
const maxDeliveries = 60

// Replica is the order replica (store.Orders).
type Replica interface {
	ApplyOrderCreated(ctx context.Context, e events.OrderCreated) error
	ApplyOrderStatus(ctx context.Context, id string, version int64, status events.OrderStatus) error
	Get(ctx context.Context, id string) (payment.Order, error)
}

// Canceller records a cancellation on the order's charge (payment.Payer).
type Canceller interface {
	RecordCancellation(ctx context.Context, orderID string) error
}

// Subscriptions returns payments' subscriptions.
func Subscriptions(replica Replica, canceller Canceller) []bus.Subscription {
	h := handlers{replica: replica, canceller: canceller}
	return []bus.Subscription{
		bus.On(Queue, h.orderCreated, bus.MaxDeliveries(maxDeliveries)),
		bus.On(Queue, h.orderCancelled, bus.MaxDeliveries(maxDeliveries)),
		bus.On(Queue, h.orderCompleted, bus.MaxDeliveries(maxDeliveries)),
	}
}

type handlers struct {
	replica   Replica
	canceller Canceller
}

func (h handlers) orderCreated(ctx context.Context, e events.OrderCreated) error {
	return h.replica.ApplyOrderCreated(ctx, e)
}

// orderCancelled applies the cancellation, then records it on the order's
// charge. A redelivery (the replica has the version already) records it
// again, which changes nothing. A stale order:cancelled for an order the
// replica knows as complete records nothing: only a cancelled order is
// refunded.
func (h handlers) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	if err := h.apply(ctx, e.ID, e.Version, events.StatusCancelled); err != nil {
		return err
	}
	o, err := h.replica.Get(ctx, e.ID)
	if err != nil {
		return err
	}
	if o.Status != events.StatusCancelled {
		return nil
	}
	return h.canceller.RecordCancellation(ctx, e.ID)
}

func (h handlers) orderCompleted(ctx context.Context, e events.OrderCompleted) error {
	return h.apply(ctx, e.ID, e.Version, events.StatusComplete)
}

func (h handlers) apply(ctx context.Context, id string, version int64, status events.OrderStatus) error {
	err := h.replica.ApplyOrderStatus(ctx, id, version, status)
	if errors.Is(err, payment.ErrReplicaBehind) {
		return fmt.Errorf("%w: %w", bus.ErrNotYet, err)
	}
	return err
}
