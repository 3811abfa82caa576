// Package store keeps payments' state in MongoDB: the replica of orders, and
// one charge document per order.
//
// Every change is one conditional write on one document, so nothing here
// needs a multi-document transaction (FerretDB has none). The charge document
// carries its payment:created event in its outbox (common/outbox), written by
// the same update that marks the charge completed.
package store

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/internal/payment"
)

// Store is payments' database: the order replica and the charges. Each
// collection has its own type, since each has its own Get (an order by its
// id, a charge by its order's).
type Store struct {
	Orders  *Orders
	Charges *Charges
	Events  *Events
}

// New returns the store over db's "orders", "charges" and "webhook_events"
// collections.
func New(db *mongo.Database) *Store {
	coll := db.Collection("charges")
	return &Store{
		Orders:  &Orders{coll: db.Collection("orders")},
		Charges: &Charges{coll: coll, outbox: outbox.New(coll), maxDeclines: payment.DefaultMaxPaymentAttempts},
		Events:  &Events{coll: db.Collection("webhook_events")},
	}
}

// Outbox is where the charges queue payment:created, for the relay to publish.
func (s *Store) Outbox() *outbox.Outbox { return s.Charges.outbox }

// EnsureIndexes creates the unique index that makes "one charge per order"
// hold under concurrent requests, and the reconciler's indexes: undecided
// attempts by lease, and due refunds. refundDue is present only while a
// refund is owed, so the sparse index holds just those charges. (A partial
// index would say so outright; FerretDB has none.) The replica is read by _id
// alone and needs none.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.Charges.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "orderId", Value: 1}}, Options: options.Index().SetUnique(true).SetName("order_unique")},
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "leaseUntil", Value: 1}}, Options: options.Index().SetName("undecided")},
		mongo.IndexModel{Keys: bson.D{{Key: "refundDue", Value: 1}}, Options: options.Index().SetName("refund_due").SetSparse(true)},
	)
}

// Charges is the charges collection: one document per order, across
// attempts.
type Charges struct {
	coll   *mongo.Collection
	outbox *outbox.Outbox
	// maxDeclines is MAX_PAYMENT_ATTEMPTS: declined attempts per order.
	maxDeclines int
}

// WithMaxDeclines sets how many declined attempts an order may have
// (MAX_PAYMENT_ATTEMPTS).
func (c *Charges) WithMaxDeclines(n int) *Charges {
	c.maxDeclines = n
	return c
}

// Orders is the replica of orders, keyed by order id.
type Orders struct {
	coll *mongo.Collection
}
