// Package listeners applies other services' events to orders:
//
//	ticket:created       the ticket joins the replica
//	ticket:updated       vN is applied on top of vN-1 only (else: not yet)
//	expiration:complete  the order is cancelled unless it is complete
//	payment:created      the order completes and order:completed is published,
//	                     only while it holds its ticket (else it is cancelled)
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
	"ticketing.dev/orders/internal/order"
)

// Queue is the orders service's queue group (and durable name).
const Queue = "orders-service"

// Store is the storage the handlers need.
type Store interface {
	ApplyTicketCreated(ctx context.Context, e events.TicketCreated) error
	ApplyTicketUpdated(ctx context.Context, e events.TicketUpdated) error
	Expire(ctx context.Context, id string) (order.Order, error)
	Complete(ctx context.Context, id, paymentID string) (order.Order, error)
}

// Subscriptions returns orders' subscriptions.
func Subscriptions(store Store, logger *slog.Logger) []bus.Subscription {
	h := handlers{store: store, log: logger}
	return []bus.Subscription{
		bus.On(Queue, h.ticketCreated),
		bus.On(Queue, h.ticketUpdated),
		bus.On(Queue, h.expirationComplete),
		bus.On(Queue, h.paymentCreated),
	}
}

type handlers struct {
	store Store
	log   *slog.Logger
}

func (h handlers) ticketCreated(ctx context.Context, p events.TicketCreated) error {
	return h.store.ApplyTicketCreated(ctx, p)
}

func (h handlers) ticketUpdated(ctx context.Context, p events.TicketUpdated) error {
	err := h.store.ApplyTicketUpdated(ctx, p)
	if errors.Is(err, order.ErrReplicaBehind) {
		return fmt.Errorf("%w: %w", bus.ErrNotYet, err)
	}
	return err
}

func (h handlers) expirationComplete(ctx context.Context, p events.ExpirationComplete) error {
	o, err := h.store.Expire(ctx, p.OrderID)
	switch {
	case errors.Is(err, order.ErrComplete):
		return nil // paid in time: nothing expires
	case err != nil:
		// order.ErrNotFound included: expiration learns of orders only from
		// us, so it is a bug worth parking, not a message to drop silently.
		return fmt.Errorf("expiring order %s: %w", p.OrderID, err)
	}
	h.log.Info("order expired", "order_id", o.ID, "ticket_id", o.Ticket.ID)
	return nil
}

func (h handlers) paymentCreated(ctx context.Context, p events.PaymentCreated) error {
	_, err := h.store.Complete(ctx, p.OrderID, p.ID)
	switch {
	case errors.Is(err, order.ErrCancelled):
		// Paid too late, or for an order that lost its hold (cancelled just
		// now, so its order:cancelled may be waiting to go out): the order
		// stays cancelled and payments refunds the charge when it sees
		// order:cancelled (DESIGN.md §5, late payment).
		h.log.Warn("payment for a cancelled order; it stays cancelled", "order_id", p.OrderID, "payment_id", p.ID, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("completing order %s: %w", p.OrderID, err)
	}
	return nil
}
