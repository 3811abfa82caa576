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

// sweepBatch bounds how many holds one pass reads, so a pass costs the same
// however many tickets are held; the oldest go first, the rest next pass.
const sweepBatch = 500

// Sweep settles holds older than grace whose order does not hold them any
// more (or never existed), and reports how many it settled.
//
// A hold whose order is live is legitimate until the order expires, so its
// heldAt is moved to the order's expiresAt: the sweeper reads each live
// order about once, not on every pass for as long as it is held. By then the
// expiry (expiration:complete, or the overdue lapse in lapse.go) has
// cancelled the order and released the hold; the sweeper looks again only in
// case that release was interrupted.
func (s *Store) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := s.now().UTC().Add(-grace)
	cur, err := s.tickets.Find(ctx, bson.M{"sold": false, "orderId": bson.M{"$ne": ""}, "heldAt": bson.M{"$lt": cutoff}},
		options.Find().SetProjection(bson.M{"orderId": 1}).SetSort(bson.M{"heldAt": 1}).SetLimit(sweepBatch))
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
		state, err := s.settle(ctx, h.TicketID.Hex(), h.OrderID)
		if err == nil && state.Status == events.StatusCreated {
			err = s.recheckAt(ctx, h.TicketID, h.OrderID, state.ExpiresAt)
		} else if err == nil {
			settled++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return settled, errors.Join(errs...)
}

// settle settles one hold by its order's state: a cancelled order (or none,
// which becomes a cancelled placeholder) releases it, a complete one marks
// the ticket sold, a live one keeps it. It returns the order's state.
func (s *Store) settle(ctx context.Context, ticketID, orderID string) (orderState, error) {
	state, err := s.orderStatusOrPlaceholder(ctx, orderID, ticketID)
	if err != nil {
		return state, err
	}
	switch state.Status {
	case events.StatusCancelled:
		err = s.release(ctx, ticketID, orderID)
	case events.StatusComplete:
		err = s.markSold(ctx, ticketID, orderID)
	}
	return state, err
}

// orderState is what settling a hold needs of its order.
type orderState struct {
	Status    events.OrderStatus `bson:"status"`
	ExpiresAt time.Time          `bson:"expiresAt"`
}

// orderStatusOrPlaceholder returns the state of the order, storing a
// cancelled placeholder under its id if there is none.
func (s *Store) orderStatusOrPlaceholder(ctx context.Context, orderID, ticketID string) (orderState, error) {
	id, ok := mongox.ParseID(orderID)
	if !ok {
		return orderState{}, fmt.Errorf("hold by malformed order id %q", orderID)
	}
	state, err := s.orderState(ctx, id)
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return state, err
	}
	now := orderTime(s.now())
	_, err = s.orders.InsertOne(ctx, orderDoc{
		ID: id, Status: events.StatusCancelled, Ticket: orderTicketDoc{ID: ticketID},
		CreatedAt: now, ExpiresAt: now, Orphan: true,
	})
	if err == nil {
		return orderState{Status: events.StatusCancelled, ExpiresAt: now}, nil
	}
	if !mongox.IsDuplicateKey(err) {
		return orderState{}, fmt.Errorf("placing an orphan marker for order %s: %w", orderID, err)
	}
	// The order's own insert landed after all, just now.
	return s.orderState(ctx, id)
}

func (s *Store) orderState(ctx context.Context, id primitive.ObjectID) (orderState, error) {
	var state orderState
	err := s.orders.FindOne(ctx, bson.M{"_id": id},
		options.FindOne().SetProjection(bson.M{"status": 1, "expiresAt": 1})).Decode(&state)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return orderState{}, fmt.Errorf("reading order %s: %w", id.Hex(), err)
	}
	return state, err
}

// Sweeper runs Sweep and SweepSlots every interval until ctx ends, as background work.
func (s *Store) Sweeper(logger *slog.Logger, grace, interval time.Duration) func(context.Context) error {
	return every(interval, func(ctx context.Context) {
		n, err := s.Sweep(ctx, grace)
		if err != nil && ctx.Err() == nil {
			logger.Warn("sweeping holds", "err", err)
		}
		if n > 0 {
			logger.Warn("settled holds left behind by an interrupted write", "count", n)
		}
		s.sweepSlotsPass(ctx, logger, grace)
	})
}

// every is background work that runs pass every interval until ctx ends.
func every(interval time.Duration, pass func(context.Context)) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			pass(ctx)
		}
	}
}
