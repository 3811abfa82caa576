package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/mongox"
)

// Events is the webhook events applied, one document per event id (its _id,
// unique), so an event delivered again is seen as such.
type Events struct {
	coll *mongo.Collection
}

type eventDoc struct {
	ID        string    `bson:"_id"`
	Type      string    `bson:"type"`
	AppliedAt time.Time `bson:"appliedAt"`
}

// Seen implements payment.Events.
func (e *Events) Seen(ctx context.Context, id string) (bool, error) {
	err := e.coll.FindOne(ctx, bson.M{"_id": id}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	}
	return false, fmt.Errorf("reading webhook event %s: %w", id, err)
}

// Record implements payment.Events. A second record of one event (two
// deliveries applied at once) is no error: both changed the same state.
func (e *Events) Record(ctx context.Context, id, typ string, now time.Time) error {
	_, err := e.coll.InsertOne(ctx, eventDoc{ID: id, Type: typ, AppliedAt: stored(now)})
	if err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("recording webhook event %s: %w", id, err)
	}
	return nil
}
