package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// Reserve creates an order for buyerID on ticketID. The reservation is the
// hold, one conditional update on the replica that exactly one of any number
// of concurrent buyers wins; nothing is checked first. Only then is the order
// inserted, with order:created in its outbox. If the insert fails the hold is
// released again; if the process dies in between, the sweeper does it.
func (s *Store) Reserve(ctx context.Context, buyerID, ticketID string, window time.Duration) (order.Order, error) {
	tid, err := parseTicketID(ticketID)
	if err != nil {
		return order.Order{}, err
	}
	orderID := primitive.NewObjectID().Hex()
	held, err := s.hold(ctx, tid, orderID, buyerID)
	if err != nil {
		return order.Order{}, err
	}
	o := order.New(orderID, buyerID, order.Ticket{ID: held.ID, Title: held.Title, Price: held.Price},
		held.Version, orderTime(s.now()), window)
	if err := s.insert(ctx, &o); err != nil {
		// The request may be gone; the release must not go with it.
		if rerr := s.release(context.WithoutCancel(ctx), ticketID, orderID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("the sweeper will release it: %w", rerr))
		}
		return order.Order{}, err
	}
	return o, nil
}

// orderTime is now at the precision MongoDB stores, so what Reserve returns
// equals what a later read returns.
func orderTime(now time.Time) time.Time { return now.UTC().Truncate(time.Millisecond) }

// Cancel cancels an order (check may refuse first, e.g. for a non-owner) and
// releases its hold on the ticket. The release runs even when the order was
// cancelled already, so a retry heals a crash between the two writes.
func (s *Store) Cancel(ctx context.Context, id string, check func(order.Order) error) (order.Order, error) {
	o, err := s.Update(ctx, id, func(o *order.Order) error {
		if err := check(*o); err != nil {
			return err
		}
		return o.Cancel()
	})
	if err != nil {
		return o, err
	}
	if o.Status == events.StatusCancelled {
		if err := s.release(ctx, o.Ticket.ID, o.ID); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Complete completes a paid order and marks its ticket sold. A cancelled order
// stays cancelled (order.ErrCancelled).
func (s *Store) Complete(ctx context.Context, id, paymentID string) (order.Order, error) {
	o, err := s.Update(ctx, id, func(o *order.Order) error { return o.Complete(paymentID) })
	if err != nil {
		return o, err
	}
	if err := s.markSold(ctx, o.Ticket.ID, o.ID); err != nil {
		return o, err
	}
	return o, nil
}
