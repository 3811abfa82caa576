// Package listeners keeps payments' replica of orders and settles charges
// when an order is cancelled:
//
//	order:created    the order joins the replica
//	order:cancelled  vN is applied on top of vN-1; then a charge that
//	                 succeeded for it (a late payment) is refunded
//	order:completed  vN is applied on top of vN-1
//
// Every handler is idempotent: a repeat finds nothing left to do.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
}

// Settler finishes what paying for an order left open (payment.Payer).
type Settler interface {
	Settle(ctx context.Context, orderID string) error
}

// Subscriptions returns payments' subscriptions.
func Subscriptions(replica Replica, settler Settler, logger *slog.Logger) []bus.Subscription {
	h := handlers{replica: replica, settler: settler, log: logger.With("component", "listeners")}
	return []bus.Subscription{
		bus.On(Queue, h.orderCreated, bus.MaxDeliveries(maxDeliveries)),
		bus.On(Queue, h.orderCancelled, bus.MaxDeliveries(maxDeliveries)),
		bus.On(Queue, h.orderCompleted, bus.MaxDeliveries(maxDeliveries)),
	}
}

type handlers struct {
	replica Replica
	settler Settler
	log     *slog.Logger
}

func (h handlers) orderCreated(ctx context.Context, e events.OrderCreated) error {
	return h.replica.ApplyOrderCreated(ctx, e)
}

// orderCancelled applies the cancellation, then settles the order's charge:
// one that succeeded is refunded. A redelivery (the replica has the version
// already) settles again, which finds nothing left to do once it is done.
func (h handlers) orderCancelled(ctx context.Context, e events.OrderCancelled) error {
	if err := h.apply(ctx, e.ID, e.Version, events.StatusCancelled); err != nil {
		return err
	}
	err := h.settler.Settle(ctx, e.ID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, payment.ErrInProgress):
		// A request is charging the order right now; once it has charged it
		// sees the cancellation and refunds (and if it dies, the reconciler
		// takes over when its lease lapses).
		h.log.Info("order cancelled while being paid; the payment refunds itself", "order_id", e.ID)
		return nil
	case isProviderError(err):
		// What is owed is stored (an undecided attempt, a refund due); the
		// reconciler retries Stripe, so the event need not come back.
		h.log.Warn("settling a cancelled order's charge; the reconciler retries", "order_id", e.ID, "err", err)
		return nil
	default:
		return err
	}
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

func isProviderError(err error) bool {
	var late *payment.LatePaymentError
	return payment.Definite(err) || errors.Is(err, payment.ErrOutcomeUnknown) || errors.As(err, &late) ||
		errors.Is(err, payment.ErrRefundDue)
}
