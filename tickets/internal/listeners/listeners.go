// Package listeners applies the orders service's events to tickets:
//
//	order:created    the ticket is reserved by that order
//	order:cancelled  the ticket is released, only if that order holds it
//	order:completed  the ticket is sold to that order
//
// Each handler is idempotent (a repeat changes nothing, see package ticket),
// and each change is stored with its ticket:updated event in one write.
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
	Update(ctx context.Context, id string, change func(*ticket.Ticket) error) (ticket.Ticket, error)
}

// Subscriptions returns tickets' subscriptions. published is told after a
// change queued an event (outbox.Relay.Notify).
func Subscriptions(tickets Tickets, published func()) []bus.Subscription {
	h := handlers{tickets: tickets, published: published}
	return []bus.Subscription{
		bus.On(Queue, h.orderCreated),
		bus.On(Queue, h.orderCancelled),
		bus.On(Queue, h.orderCompleted),
	}
}

type handlers struct {
	tickets   Tickets
	published func()
}

func (h handlers) orderCreated(ctx context.Context, p events.OrderCreated) error {
	return h.change(ctx, p.Ticket.ID, func(t *ticket.Ticket) error { return t.Reserve(p.ID) })
}

func (h handlers) orderCancelled(ctx context.Context, p events.OrderCancelled) error {
	return h.change(ctx, p.Ticket.ID, func(t *ticket.Ticket) error { t.Release(p.ID); return nil })
}

func (h handlers) orderCompleted(ctx context.Context, p events.OrderCompleted) error {
	return h.change(ctx, p.Ticket.ID, func(t *ticket.Ticket) error { return t.MarkSold(p.ID) })
}

func (h handlers) change(ctx context.Context, ticketID string, change func(*ticket.Ticket) error) error {
	before := int64(-1)
	t, err := h.tickets.Update(ctx, ticketID, func(t *ticket.Ticket) error {
		before = t.Version
		return change(t)
	})
	if errors.Is(err, ticket.ErrHeldByAnotherOrder) {
		return fmt.Errorf("ticket %s: %w: %w", ticketID, bus.ErrNotYet, err)
	}
	if err != nil {
		// ErrNotFound included: orders learns of tickets only from us, so an
		// order for an unknown ticket is a bug; retried, then parked.
		return fmt.Errorf("ticket %s: %w", ticketID, err)
	}
	if t.Version != before {
		h.published()
	}
	return nil
}
