// Package store keeps orders and orders' replica of tickets in MongoDB.
//
// Every change to an order is stored with the event it causes on the order
// itself (common/outbox), in one single-document write. A reservation, a
// cancellation and a completion each touch two documents (the replica's hold
// and the order), and neither MongoDB without a replica set nor FerretDB has
// multi-document transactions; flows.go orders the two writes so that a crash
// between them leaves nothing worse than a hold without an order, which the
// sweeper (sweep.go) finds and releases. The cap on a buyer's open orders
// (slots.go) is a third document with the same discipline.
package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/outbox"
	"ticketing.dev/orders/internal/order"
)

// maxConflicts bounds how often an update retries after another writer
// changed the document between its read and its write.
const maxConflicts = 20

// Store is the orders and tickets-replica collections.
type Store struct {
	orders  *mongo.Collection
	outbox  *outbox.Outbox
	tickets *mongo.Collection
	buyers  *mongo.Collection
	maxOpen int
	now     func() time.Time
	// lapsed is told how late each order Lapse expired was (metrics).
	lapsed func(late time.Duration)
	// turns queues this process's reservations of one ticket (turns.go).
	turns turns
}

// New returns the store over db's "orders", "tickets" and "buyers"
// collections, with the default cap on open orders.
func New(db *mongo.Database) *Store {
	orders := db.Collection("orders")
	return &Store{
		orders: orders, outbox: outbox.New(orders), tickets: db.Collection("tickets"),
		buyers: db.Collection("buyers"), maxOpen: order.DefaultMaxOpenOrders, now: time.Now,
	}
}

// WithClock sets the clock (tests).
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}

// Outbox is where the store queues order events, on the orders collection,
// for the relay to publish.
func (s *Store) Outbox() *outbox.Outbox { return s.outbox }

// Tickets is the replica collection.
func (s *Store) Tickets() *mongo.Collection { return s.tickets }

// EnsureIndexes creates the indexes behind the buyer's list, the overdue
// lapse and the sweepers of holds and open-order slots.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	if _, err := s.orders.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "userId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}},
		Options: options.Index().SetName("by_buyer"),
	}); err != nil {
		return fmt.Errorf("creating orders index: %w", err)
	}
	if _, err := s.orders.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}},
		Options: options.Index().SetName("overdue"),
	}); err != nil {
		return fmt.Errorf("creating orders index: %w", err)
	}
	if _, err := s.tickets.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "sold", Value: 1}, {Key: "heldAt", Value: 1}},
		Options: options.Index().SetName("holds"),
	}); err != nil {
		return fmt.Errorf("creating tickets index: %w", err)
	}
	if _, err := s.buyers.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "due", Value: 1}},
		Options: options.Index().SetName("due"),
	}); err != nil {
		return fmt.Errorf("creating buyers index: %w", err)
	}
	return nil
}
