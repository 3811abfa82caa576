package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
)

// Holds and orders are two documents written one after the other, so a crash
// can leave a hold behind:
//
//   - Reserve held the ticket but never inserted the order;
//   - Cancel cancelled the order but never released the hold;
//   - Complete completed the order but never marked the ticket sold.
//
// Sweep finds holds older than a grace period and settles each by its order's
// state. The first case needs care: the order's insert might still be in
// flight (a slow database), and releasing the hold under it would let a second
// buyer in. So the sweeper does not conclude "no order" from a read: it
// inserts a placeholder under the order's id. The id is unique, so either the
// placeholder goes in, and the real insert can never succeed afterwards, or
// the real order is there and the hold is legitimate. Either way the answer
// is final, with no window between looking and acting.

// DefaultHoldGrace is how old a hold must be before the sweeper looks at it:
// far longer than a reservation's two writes take.
const DefaultHoldGrace = time.Minute

// DefaultSweepInterval is how often Sweeper looks.
const DefaultSweepInterval = 30 * time.Second

// Sweep settles every hold older than grace whose order does not hold it any
// more (or never existed), and reports how many it settled.
func (s *Store) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := s.now().UTC().Add(-grace)
	cur, err := s.tickets.Find(ctx, bson.M{"sold": false, "orderId": bson.M{"$ne": ""}, "heldAt": bson.M{"$lt": cutoff}},
		options.Find().SetProjection(bson.M{"orderId": 1}))
	if err != nil {
		return 0, fmt.Errorf("finding holds: %w", err)
	}
	var holds []struct {
		TicketID primitive.ObjectID `bson:"_id"`
		OrderID  string             `bson:"orderId"`
	}
	if err := cur.All(ctx, &holds); err != nil {
		return 0, fmt.Errorf("finding holds: %w", err)
	}
	settled := 0
	var errs []error
	for _, h := range holds {
		status, err := s.orderStatusOrPlaceholder(ctx, h.OrderID, h.TicketID.Hex())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch status {
		case events.StatusCancelled:
			err = s.release(ctx, h.TicketID.Hex(), h.OrderID)
		case events.StatusComplete:
			err = s.markSold(ctx, h.TicketID.Hex(), h.OrderID)
		default:
			continue // a live reservation
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		settled++
	}
	return settled, errors.Join(errs...)
}

// orderStatusOrPlaceholder returns the status of the order, storing a
// cancelled placeholder under its id if there is none.
func (s *Store) orderStatusOrPlaceholder(ctx context.Context, orderID, ticketID string) (events.OrderStatus, error) {
	id, ok := mongox.ParseID(orderID)
	if !ok {
		return "", fmt.Errorf("hold by malformed order id %q", orderID)
	}
	status, err := s.orderStatus(ctx, id)
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return status, err
	}
	now := orderTime(s.now())
	_, err = s.orders.InsertOne(ctx, orderDoc{
		ID: id, Status: events.StatusCancelled, Ticket: orderTicketDoc{ID: ticketID},
		CreatedAt: now, ExpiresAt: now, Orphan: true,
	})
	if err == nil {
		return events.StatusCancelled, nil
	}
	if !mongox.IsDuplicateKey(err) {
		return "", fmt.Errorf("placing an orphan marker for order %s: %w", orderID, err)
	}
	// The order's own insert landed after all, just now.
	return s.orderStatus(ctx, id)
}

func (s *Store) orderStatus(ctx context.Context, id primitive.ObjectID) (events.OrderStatus, error) {
	var doc struct {
		Status events.OrderStatus `bson:"status"`
	}
	err := s.orders.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{"status": 1})).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return "", fmt.Errorf("reading order %s: %w", id.Hex(), err)
	}
	return doc.Status, err
}

// Sweeper runs Sweep every interval until ctx ends, as background work.
func (s *Store) Sweeper(logger *slog.Logger, grace, interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			n, err := s.Sweep(ctx, grace)
			if err != nil && ctx.Err() == nil {
				logger.Warn("sweeping holds", "err", err)
			}
			if n > 0 {
				logger.Warn("settled holds left behind by an interrupted write", "count", n)
			}
		}
	}
}
