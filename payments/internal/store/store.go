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
)

// Charges is the charges collection: one document per order, across
// attempts.
type Charges struct {
	coll *mongo.Collection
}

// NewCharges returns the store over db's "charges" collection.
func NewCharges(db *mongo.Database) *Charges {
	return &Charges{coll: db.Collection("charges")}
}

// Collection is the collection whose outbox the relay publishes.
func (s *Charges) Collection() *mongo.Collection { return s.coll }

// EnsureIndexes creates the unique index that makes "one charge per order"
// hold under concurrent requests, and the reconciler's indexes: undecided
// attempts by lease, and due refunds. refundDue is present only while a
// refund is owed, so the sparse index holds just those charges. (A partial
// index would say so outright; FerretDB has none.)
func (s *Charges) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "orderId", Value: 1}}, Options: options.Index().SetUnique(true).SetName("order_unique")},
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "leaseUntil", Value: 1}}, Options: options.Index().SetName("undecided")},
		mongo.IndexModel{Keys: bson.D{{Key: "refundDue", Value: 1}}, Options: options.Index().SetName("refund_due").SetSparse(true)},
	)
}

// Orders is the replica of orders, keyed by order id.
type Orders struct {
	coll *mongo.Collection
}

// NewOrders returns the store over db's "orders" collection.
func NewOrders(db *mongo.Database) *Orders {
	return &Orders{coll: db.Collection("orders")}
}
