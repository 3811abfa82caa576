package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/mongox"
	"ticketing.dev/tickets/internal/ticket"
)

// Hold bookkeeping. An order's order:created and order:cancelled travel on
// separate subjects and the bus runs several messages at once, so tickets may
// see them in either order, both at the same time, and each more than once.
// A late order:created must not lock the ticket for an order that is gone, so
// tickets remembers which orders are closed. That memory is one small document
// per cancelled order in its own collection, keyed by the order id (a lookup
// by _id is an index seek on MongoDB and the one filter FerretDB pushes down),
// never an array on the ticket: the ticket stays the same size however often
// it is reserved and released.
//
// Closed records are kept. A late order:created can come from a message
// parked and re-driven by hand any time later, and a record deleted before it
// would let that message lock the ticket for good; each record is about 80
// bytes, one per cancelled order, the same growth as orders' own collection.
// closedAt lets an operator prune records older than any message that could
// still be re-driven.

type closedOrderDoc struct {
	OrderID  string    `bson:"_id"`
	TicketID string    `bson:"ticketId"`
	ClosedAt time.Time `bson:"closedAt"`
}

// Reserve applies order:created: the ticket is reserved by orderID unless that
// order is closed. It reports whether it queued an event. An order:created
// that must wait for another order's release returns
// ticket.ErrHeldByAnotherOrder and changes nothing.
//
// Why no interleaving with Release leaves a closed order holding the ticket:
// Release writes the closed record (C1) before it reads the ticket (C2).
// Every hold this function writes (R2) is followed by a read of the closed
// record (R3). If R3 comes after C1, it sees the record and this function
// releases the hold itself. If R3 comes before C1, then R2 did too, so C2
// reads the ticket after the hold was written and releases it. The ticket
// writes are conditional on the version read, so a release never works from
// a stale read. A run that fails after R2 is delivered again, and that run,
// seeing the order closed, releases whatever an earlier run left (R1); so
// does any concurrent second delivery, which is one more run of the same
// steps. This needs reads that see every acknowledged write, which both
// MongoDB's primary and FerretDB give.
func (s *Tickets) Reserve(ctx context.Context, ticketID, orderID string) (bool, error) {
	s.step("reserve: is the order closed")
	closed, err := s.isClosed(ctx, orderID)
	if err != nil {
		return false, err
	}
	held := false
	if !closed {
		s.step("reserve: hold the ticket")
		held, err = s.change(ctx, ticketID, "reserve: write the hold", func(t *ticket.Ticket) error { return t.Reserve(orderID) })
		if err != nil {
			return held, err
		}
		s.step("reserve: was the order closed meanwhile")
		if closed, err = s.isClosed(ctx, orderID); err != nil {
			return held, err
		}
	}
	if !closed {
		return held, nil
	}
	s.step("reserve: undo a hold of a closed order")
	released, err := s.change(ctx, ticketID, "reserve: write the undo", func(t *ticket.Ticket) error { t.Release(orderID); return nil })
	return held || released, err
}

// Release applies order:cancelled: it records the order as closed, then
// frees the ticket if that order holds it. It reports whether it queued an
// event. The record comes first so that an order:created handled at the same
// time or later finds it (see Reserve).
func (s *Tickets) Release(ctx context.Context, ticketID, orderID string) (bool, error) {
	s.step("release: record the order closed")
	if err := s.close(ctx, ticketID, orderID); err != nil {
		return false, err
	}
	s.step("release: free the ticket")
	return s.change(ctx, ticketID, "release: write the release", func(t *ticket.Ticket) error { t.Release(orderID); return nil })
}

// change is Update reporting whether it wrote; beforeWrite names the step
// between its read and its conditional write.
func (s *Tickets) change(ctx context.Context, id, beforeWrite string, apply func(*ticket.Ticket) error) (bool, error) {
	before := int64(-1)
	t, err := s.Update(ctx, id, func(t *ticket.Ticket) error {
		before = t.Version
		s.step(beforeWrite)
		return apply(t)
	})
	return err == nil && t.Version != before, err
}

func (s *Tickets) isClosed(ctx context.Context, orderID string) (bool, error) {
	err := s.closed.FindOne(ctx, bson.M{"_id": orderID}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("finding closed order: %w", err)
	}
	return true, nil
}

// close records orderID as closed. A second cancellation of the same order
// finds the record there, which is the same outcome; so is a retry after an
// insert whose answer was lost.
func (s *Tickets) close(ctx context.Context, ticketID, orderID string) error {
	_, err := s.closed.InsertOne(ctx, closedOrderDoc{OrderID: orderID, TicketID: ticketID, ClosedAt: time.Now().UTC()})
	if err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("recording closed order: %w", err)
	}
	return nil
}

// step marks a point between two database calls of Reserve or Release, where
// a test may hold this call back to run another first (export_test.go).
func (s *Tickets) step(name string) {
	if s.between != nil {
		s.between(name)
	}
}
