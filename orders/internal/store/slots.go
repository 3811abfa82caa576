package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/orders/internal/order"
)

// A buyer holds at most MAX_OPEN_ORDERS created orders (DESIGN.md §9). The
// cap is counted where it can be enforced without a transaction: one
// document per buyer in "buyers",
//
//	{_id: buyerID, n: 2, open: {<orderID>: {ticket, at}, ...}, due, v}
//
// and a slot is taken by one conditional update on it — n below the cap and
// this order not in open — so of any number of concurrent reservations by
// one buyer exactly as many as the cap allows win, as the hold lets exactly
// one buyer win a ticket. A slot is released by one update conditional on
// the order being in open, so however often a release is repeated (a
// redelivered event, a retried request, the sweeper racing a cancellation)
// it frees the slot once.
//
// Reserve takes the slot before the hold and inserts the order last, so the
// slot has the same crash cases as the hold: an order that was never
// inserted, or one that left created with its slot not yet released.
// reconcileSlots settles both by the order's state, the first with the
// sweeper's placeholder, so that a slot whose order is merely slow to land is
// never freed under it. It runs when a buyer hits the cap, before they are
// refused, and from the sweeper (SweepSlots) for every buyer document due.
//
// due is when the buyer's slots next need a look: the oldest slot taken, or
// a live order's expiresAt (when the expiry should have released it).

// slotDoc is one buyer's open orders.
type slotDoc struct {
	ID   string               `bson:"_id"`
	N    int                  `bson:"n"`
	Open map[string]slotEntry `bson:"open"`
	V    int64                `bson:"v"`
}

// slotEntry is one open order: its ticket (for the placeholder) and when the
// slot was taken.
type slotEntry struct {
	Ticket string    `bson:"ticket"`
	At     time.Time `bson:"at"`
}

// WithMaxOpenOrders sets the cap on a buyer's open orders (MAX_OPEN_ORDERS).
func (s *Store) WithMaxOpenOrders(n int) *Store {
	s.maxOpen = n
	return s
}

// takeSlot counts orderID against buyerID's cap, or is
// order.ErrTooManyOpenOrders. A repeat for the same order is a no-op.
func (s *Store) takeSlot(ctx context.Context, buyerID, orderID, ticketID string, at time.Time) error {
	key := "open." + orderID
	reconciled := false
	for range maxConflicts {
		res, err := s.buyers.UpdateOne(ctx,
			bson.M{"_id": buyerID, "n": bson.M{"$lt": s.maxOpen}, key: bson.M{"$exists": false}},
			bson.M{
				"$set": bson.M{key: slotEntry{Ticket: ticketID, At: at}},
				"$inc": bson.M{"n": 1, "v": 1},
				"$min": bson.M{"due": at},
			})
		if err != nil {
			return fmt.Errorf("taking an open-order slot: %w", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
		doc, found, err := s.slotsOf(ctx, buyerID)
		if err != nil {
			return err
		}
		if !found {
			// The buyer's first reservation. Not an upsert: FerretDB answers
			// 1.24 applied an upsert whose filter missed the existing document
			// to that document all the same (seen here: a fifth slot taken).
			err := s.firstSlot(ctx, buyerID, orderID, ticketID, at)
			if err == nil || !mongox.IsDuplicateKey(err) {
				return err
			}
			continue // a concurrent first reservation created it
		}
		switch _, taken := doc.Open[orderID]; {
		case taken:
			return nil // a retried write that had landed
		case doc.N < s.maxOpen:
			continue // another reservation or release changed it in between
		case reconciled:
			return order.ErrTooManyOpenOrders
		}
		// Before refusing, free what a crash left counted.
		reconciled = true
		freed, err := s.reconcileSlots(ctx, doc, DefaultHoldGrace)
		if err != nil {
			return err
		}
		if freed == 0 {
			return order.ErrTooManyOpenOrders
		}
	}
	return fmt.Errorf("taking an open-order slot for %s: still conflicting after %d attempts", buyerID, maxConflicts)
}

// releaseSlot frees orderID's slot if it holds one, and reports whether it
// did: exactly one of any number of releases of a slot frees it.
func (s *Store) releaseSlot(ctx context.Context, buyerID, orderID string) (bool, error) {
	if buyerID == "" {
		return false, nil // a placeholder: it never took a slot
	}
	key := "open." + orderID
	res, err := s.buyers.UpdateOne(ctx, bson.M{"_id": buyerID, key: bson.M{"$exists": true}},
		bson.M{"$unset": bson.M{key: ""}, "$inc": bson.M{"n": -1, "v": 1}})
	if err != nil {
		return false, fmt.Errorf("releasing the open-order slot of %s: %w", orderID, err)
	}
	return res.ModifiedCount == 1, nil
}

// releaseSlotDetached releases the slot of an order that is known never to
// be stored, after a failed request: the request may be gone; the release
// must not go with it. If it fails, reconcileSlots frees the slot later.
func (s *Store) releaseSlotDetached(ctx context.Context, buyerID, orderID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decideTimeout)
	defer cancel()
	_, err := s.releaseSlot(ctx, buyerID, orderID)
	return err
}

// slotsOf reads buyerID's slots; found is false when they have none yet.
func (s *Store) slotsOf(ctx context.Context, buyerID string) (doc slotDoc, found bool, err error) {
	err = s.buyers.FindOne(ctx, bson.M{"_id": buyerID}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return slotDoc{ID: buyerID}, false, nil
	}
	if err != nil {
		return slotDoc{}, false, fmt.Errorf("reading the open orders of %s: %w", buyerID, err)
	}
	return doc, true, nil
}

// firstSlot creates buyerID's slots with orderID's in them.
func (s *Store) firstSlot(ctx context.Context, buyerID, orderID, ticketID string, at time.Time) error {
	_, err := s.buyers.InsertOne(ctx, bson.M{
		"_id": buyerID, "n": 1, "v": 1, "due": at,
		"open": bson.M{orderID: slotEntry{Ticket: ticketID, At: at}},
	})
	if err != nil {
		return fmt.Errorf("taking an open-order slot: %w", err)
	}
	return nil
}

// reconcileSlots frees the slots in doc whose order is not open: cancelled or
// complete (its release was interrupted), or never stored and older than
// grace (settled by a placeholder, as the sweeper settles a hold). It
// reports how many it freed, and moves the document's due to when its
// remaining slots next need a look.
func (s *Store) reconcileSlots(ctx context.Context, doc slotDoc, grace time.Duration) (int, error) {
	cutoff := s.now().UTC().Add(-grace)
	freed := 0
	var next *time.Time
	later := func(t time.Time) {
		if next == nil || t.Before(*next) {
			next = &t
		}
	}
	var errs []error
	for orderID, slot := range doc.Open {
		state, err := s.openState(ctx, orderID, slot, cutoff)
		if err != nil {
			errs = append(errs, err)
			later(slot.At)
			continue
		}
		switch state.Status {
		case "":
			later(slot.At) // not stored yet, and young: maybe in flight
			continue
		case events.StatusCreated:
			later(state.ExpiresAt)
			continue
		}
		released, err := s.releaseSlot(ctx, doc.ID, orderID)
		if err != nil {
			errs = append(errs, err)
			later(slot.At)
		}
		if released {
			freed++
		}
	}
	// Written only over the version read plus this pass's own releases: a
	// slot taken meanwhile lowered due itself, and keeps it.
	due := bson.M{"$unset": bson.M{"due": ""}}
	if next != nil {
		due = bson.M{"$set": bson.M{"due": next.UTC()}}
	}
	if _, err := s.buyers.UpdateOne(ctx, bson.M{"_id": doc.ID, "v": doc.V + int64(freed)}, due); err != nil {
		errs = append(errs, fmt.Errorf("rescheduling the open orders of %s: %w", doc.ID, err))
	}
	return freed, errors.Join(errs...)
}

// openState is the state of a slot's order; an empty status when it is not
// stored and the slot is younger than cutoff. An older slot without an order
// gets the placeholder, so its order can never be stored afterwards.
func (s *Store) openState(ctx context.Context, orderID string, slot slotEntry, cutoff time.Time) (orderState, error) {
	id, ok := mongox.ParseID(orderID)
	if !ok {
		return orderState{Status: events.StatusCancelled}, nil // never an order
	}
	state, err := s.orderState(ctx, id)
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return state, err
	}
	if !slot.At.Before(cutoff) {
		return orderState{}, nil
	}
	return s.orderStatusOrPlaceholder(ctx, orderID, slot.Ticket)
}

// SweepSlots reconciles every buyer whose slots are due a look, older than
// grace, and reports how many slots it freed.
func (s *Store) SweepSlots(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := s.now().UTC().Add(-grace)
	cur, err := s.buyers.Find(ctx, bson.M{"due": bson.M{"$lt": cutoff}},
		options.Find().SetSort(bson.M{"due": 1}).SetLimit(sweepBatch))
	if err != nil {
		return 0, fmt.Errorf("finding open-order slots: %w", err)
	}
	var docs []slotDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, fmt.Errorf("finding open-order slots: %w", err)
	}
	freed := 0
	var errs []error
	for _, doc := range docs {
		n, err := s.reconcileSlots(ctx, doc, grace)
		freed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return freed, errors.Join(errs...)
}

// sweepSlotsPass is the slots' part of the sweeper's pass.
func (s *Store) sweepSlotsPass(ctx context.Context, logger *slog.Logger, grace time.Duration) {
	n, err := s.SweepSlots(ctx, grace)
	if err != nil && ctx.Err() == nil {
		logger.Warn("sweeping open-order slots", "err", err)
	}
	if n > 0 {
		logger.Warn("freed open-order slots left behind by an interrupted write", "count", n)
	}
}
