package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/payments/internal/payment"
)

// orderDoc is one replicated order, keyed by the order id.
type orderDoc struct {
	ID        string             `bson:"_id"`
	Version   int64              `bson:"version"`
	Status    events.OrderStatus `bson:"status"`
	UserID    string             `bson:"userId"`
	Price     money.Price        `bson:"price"`
	ExpiresAt time.Time          `bson:"expiresAt"`
}

// ApplyOrderCreated adds an order to the replica. A repeat is a no-op, even
// after later versions were applied.
func (s *Orders) ApplyOrderCreated(ctx context.Context, e events.OrderCreated) error {
	if e.ID == "" {
		return errors.New("order:created without an order id")
	}
	status := e.Status
	if status == "" {
		status = events.StatusCreated
	}
	_, err := s.coll.InsertOne(ctx, orderDoc{
		ID: e.ID, Version: e.Version, Status: status, UserID: e.UserID, Price: e.Ticket.Price, ExpiresAt: e.ExpiresAt.UTC(),
	})
	if err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("replicating order %s: %w", e.ID, err)
	}
	return nil
}

// ApplyOrderStatus applies version N of an order (cancelled or complete) only
// on top of N-1, in one conditional update. A version the replica has or has
// passed is a no-op; one that arrived before the versions under it (or before
// the order itself) is payment.ErrReplicaBehind.
func (s *Orders) ApplyOrderStatus(ctx context.Context, id string, version int64, status events.OrderStatus) error {
	res, err := s.coll.UpdateOne(ctx, bson.M{"_id": id, "version": version - 1},
		bson.M{"$set": bson.M{"status": status, "version": version}})
	if err != nil {
		return fmt.Errorf("applying order %s v%d: %w", id, version, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	o, err := s.Get(ctx, id)
	switch {
	case errors.Is(err, payment.ErrOrderNotFound):
		return fmt.Errorf("order %s v%d: %w", id, version, payment.ErrReplicaBehind)
	case err != nil:
		return err
	case o.Version >= version:
		return nil
	default:
		return fmt.Errorf("order %s v%d on v%d: %w", id, version, o.Version, payment.ErrReplicaBehind)
	}
}

// Get returns the replicated order.
func (s *Orders) Get(ctx context.Context, id string) (payment.Order, error) {
	var d orderDoc
	err := s.coll.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Order{}, payment.ErrOrderNotFound
	}
	if err != nil {
		return payment.Order{}, fmt.Errorf("reading order %s: %w", id, err)
	}
	return payment.Order{ID: d.ID, Version: d.Version, Status: d.Status, UserID: d.UserID, Price: d.Price, ExpiresAt: d.ExpiresAt}, nil
}
