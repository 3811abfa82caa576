// Package listeners applies the orders service's events to tickets:
//
//	order:created    the ticket is reserved by that order
//	order:cancelled  the ticket is released, only if that order holds it
//	order:completed  the ticket is sold to that order
//
// Each handler is idempotent (a repeat changes nothing, see package ticket),
// and each change is stored with its ticket:updated event in one write. The
// created and cancelled of one order may run in either order or at once; the
// store's Reserve and Release make every interleaving end with a closed order
// holding nothing.
package listeners

import (
	"context"
	"errors"
	"fmt"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

// Queue is the tickets service's queue group (and durable name).
const Queue = "tickets-service"

// Tickets is the storage the handlers need.
type Tickets interface {
	Reserve(ctx context.Context, ticketID, orderID string) (bool, error)
	Release(ctx context.Context, ticketID, orderID string) (bool, error)
	Update(ctx context.Context, id string, change func(*ticket.Ticket) error) (ticket.Ticket, error)
}

// Subscriptions returns tickets' subscriptions.
func Subscriptions(tickets Tickets) []bus.Subscription {
	h := handlers{tickets: tickets}
	return []bus.Subscription{
		bus.On(Queue, h.orderCreated),
		bus.On(Queue, h.orderCancelled),
		bus.On(Queue, h.orderCompleted),
	}
}

type handlers struct {
	tickets Tickets
}

func (h handlers) orderCreated(ctx context.Context, p events.OrderCreated) error {
	_, err := h.tickets.Reserve(ctx, p.Ticket.ID, p.ID)
	return outcome(p.Ticket.ID, err)
}

func (h handlers) orderCancelled(ctx context.Context, p events.OrderCancelled) error {
	_, err := h.tickets.Release(ctx, p.Ticket.ID, p.ID)
	return outcome(p.Ticket.ID, err)
}

func (h handlers) orderCompleted(ctx context.Context, p events.OrderCompleted) error {
	_, err := h.tickets.Update(ctx, p.Ticket.ID, func(t *ticket.Ticket) error { return t.MarkSold(p.ID) })
	return outcome(p.Ticket.ID, err)
}

// outcome says what the bus should do after a handler's store call.
func outcome(ticketID string, err error) error {
	if errors.Is(err, ticket.ErrHeldByAnotherOrder) {
		return fmt.Errorf("ticket %s: %w: %w", ticketID, bus.ErrNotYet, err)
	}
	if err != nil {
		// ErrNotFound included: orders learns of tickets only from us, so an
		// order for an unknown ticket is a bug; retried, then parked.
		return fmt.Errorf("ticket %s: %w", ticketID, err)
	}
	return nil
}
