package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/internal/payment"
)

// chargeDoc is the one charge of one order (the seeds' Charge model: orderId,
// status, amount, stripeId, stripeRefundId), with what makes attempts safe.
type chargeDoc struct {
	ID      primitive.ObjectID `bson:"_id"`
	OrderID string             `bson:"orderId"`
	UserID  string             `bson:"userId"`
	Status  payment.Status     `bson:"status"`
	// Amount is in cents.
	Amount   money.Price `bson:"amount"`
	Currency string      `bson:"currency"`
	Attempt  int         `bson:"attempt"`
	Declines int         `bson:"declines,omitempty"`
	// IntentID is the attempt's PaymentIntent, stored before it is confirmed.
	IntentID       string    `bson:"intentId,omitempty"`
	AttemptedAt    time.Time `bson:"attemptedAt"`
	LeaseUntil     time.Time `bson:"leaseUntil"`
	SettleAfter    time.Time `bson:"settleAfter"`
	StripeID       string    `bson:"stripeId,omitempty"`
	StripeRefundID string    `bson:"stripeRefundId,omitempty"`
	CancelSeen     bool      `bson:"cancelSeen,omitempty"`
	// RefundDue is present only while a refund is owed, so its index holds
	// just the charges the refunder has to visit.
	RefundDue      bool             `bson:"refundDue,omitempty"`
	FailureMessage string           `bson:"failureMessage,omitempty"`
	Failures       []failureDoc     `bson:"failures,omitempty"`
	RefundedAt     *time.Time       `bson:"refundedAt,omitempty"`
	CreatedAt      time.Time        `bson:"createdAt"`
	UpdatedAt      time.Time        `bson:"updatedAt"`
	Outbox         []outbox.Pending `bson:"outbox,omitempty"`
}

// failureDoc keeps the story of an attempt that did not charge the card.
type failureDoc struct {
	Attempt int       `bson:"attempt"`
	Message string    `bson:"message"`
	At      time.Time `bson:"at"`
}

func (d chargeDoc) charge() payment.Charge {
	return payment.Charge{
		ID: d.ID.Hex(), OrderID: d.OrderID, UserID: d.UserID, Status: d.Status, Amount: d.Amount, Currency: d.Currency,
		Attempt: d.Attempt, Declines: d.Declines, IntentID: d.IntentID, AttemptedAt: d.AttemptedAt, LeaseUntil: d.LeaseUntil,
		SettleAfter: d.SettleAfter, StripeID: d.StripeID,
		StripeRefundID: d.StripeRefundID, CancelSeen: d.CancelSeen, RefundDue: d.RefundDue, FailureMessage: d.FailureMessage,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// released is the lease of an attempt nobody holds: always in the past.
var released = time.Unix(0, 0).UTC()

// stored rounds t as MongoDB stores it (milliseconds), so a time read back
// compares equal to the one written.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// after returns the updated document. (No projection: FerretDB does not
// support one on findAndModify.)
var after = options.FindOneAndUpdate().SetReturnDocument(options.After)

// MarkCancelled implements payment.Charges. On a charge that exists it is
// one write whatever the charge is doing, so it cannot miss a completion
// landing at the same moment: either the completion finds refundDue set, or
// this finds the charge completed, and either way the refund is due. With no
// charge yet it inserts one with no attempt (and nothing due); should a claim
// insert the charge first, the upsert matches that one without marking it,
// and the next round marks it.
func (s *Charges) MarkCancelled(ctx context.Context, orderID string, now time.Time) (payment.Charge, error) {
	for range 3 {
		var d chargeDoc
		err := s.coll.FindOneAndUpdate(ctx,
			bson.M{"orderId": orderID, "attempt": bson.M{"$gt": 0}, "stripeRefundId": bson.M{"$exists": false}},
			bson.M{"$set": bson.M{"cancelSeen": true, "refundDue": true, "updatedAt": stored(now)}}, after).Decode(&d)
		if err == nil {
			return d.charge(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return payment.Charge{}, fmt.Errorf("recording the cancellation of order %s: %w", orderID, err)
		}
		err = s.coll.FindOneAndUpdate(ctx, bson.M{"orderId": orderID},
			bson.M{"$setOnInsert": bson.M{"cancelSeen": true, "attempt": 0, "createdAt": stored(now), "updatedAt": stored(now)}},
			options.FindOneAndUpdate().SetReturnDocument(options.After).SetUpsert(true)).Decode(&d)
		switch {
		case err == nil && (d.CancelSeen || d.StripeRefundID != ""):
			// Ours, or a charge already refunded: nothing more to record.
			return d.charge(), nil
		case err != nil && !mongox.IsDuplicateKey(err):
			return payment.Charge{}, fmt.Errorf("recording the cancellation of order %s: %w", orderID, err)
		}
	}
	return payment.Charge{}, fmt.Errorf("recording the cancellation of order %s: the charge kept changing", orderID)
}

// NothingOwed implements payment.Charges: only a charge that never charged
// (failed, or never attempted) leaves the refunder's list this way.
func (s *Charges) NothingOwed(ctx context.Context, orderID string, now time.Time) error {
	_, err := s.coll.UpdateOne(ctx,
		bson.M{"orderId": orderID, "refundDue": true, "status": bson.M{"$nin": bson.A{payment.StatusCreated, payment.StatusCompleted}}},
		bson.M{"$unset": bson.M{"refundDue": ""}, "$set": bson.M{"updatedAt": stored(now)}})
	if err != nil {
		return fmt.Errorf("settling the charge of cancelled order %s: %w", orderID, err)
	}
	return nil
}

// Refunded implements payment.Charges. The refund is recorded once: a second
// refunder that got the same refund from Stripe (same idempotency key) finds
// it recorded and changes nothing.
func (s *Charges) Refunded(ctx context.Context, orderID, intentID, refundID string, now time.Time) (payment.Charge, error) {
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx,
		bson.M{"orderId": orderID, "status": payment.StatusCompleted, "stripeId": intentID, "stripeRefundId": bson.M{"$exists": false}},
		bson.M{
			"$set":   bson.M{"stripeRefundId": refundID, "refundedAt": stored(now), "updatedAt": stored(now)},
			"$unset": bson.M{"refundDue": ""},
		}, after).Decode(&d)
	if err == nil {
		return d.charge(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Charge{}, fmt.Errorf("recording the refund of order %s: %w", orderID, err)
	}
	cur, err := s.Get(ctx, orderID)
	if err != nil {
		return payment.Charge{}, err
	}
	if cur.StripeRefundID != refundID {
		return cur, fmt.Errorf("recording refund %s of order %s: the charge has refund %q", refundID, orderID, cur.StripeRefundID)
	}
	return cur, nil
}

// Get implements payment.Charges.
func (s *Charges) Get(ctx context.Context, orderID string) (payment.Charge, error) {
	var d chargeDoc
	err := s.coll.FindOne(ctx, bson.M{"orderId": orderID}, options.FindOne().SetProjection(bson.M{outbox.Field: 0})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Charge{}, payment.ErrChargeNotFound
	}
	if err != nil {
		return payment.Charge{}, fmt.Errorf("reading the charge of order %s: %w", orderID, err)
	}
	return d.charge(), nil
}

// DueRefunds implements payment.Charges. On MongoDB it reads the sparse
// index of due refunds, so it never visits a settled charge.
func (s *Charges) DueRefunds(ctx context.Context, cursor string, limit int) (payment.Page, error) {
	return s.page(ctx, bson.M{"refundDue": true}, cursor, limit)
}

// Lapsed implements payment.Charges (index "undecided": status, leaseUntil).
func (s *Charges) Lapsed(ctx context.Context, now time.Time, cursor string, limit int) (payment.Page, error) {
	return s.page(ctx, bson.M{"status": payment.StatusCreated, "leaseUntil": bson.M{"$lt": stored(now)},
		"settleAfter": bson.M{"$lte": stored(now)}}, cursor, limit)
}

// page reads at most limit charges matching filter after cursor (a charge
// id), in _id order: a bounded batch however many match, and a cursor that
// moves past charges that stay unsettled (a refund Stripe keeps refusing).
func (s *Charges) page(ctx context.Context, filter bson.M, cursor string, limit int) (payment.Page, error) {
	if cursor != "" {
		from, err := primitive.ObjectIDFromHex(cursor)
		if err != nil {
			return payment.Page{}, fmt.Errorf("charges cursor %q: %w", cursor, err)
		}
		filter["_id"] = bson.M{"$gt": from}
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().
		SetProjection(bson.M{"orderId": 1}).SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return payment.Page{}, fmt.Errorf("finding charges: %w", err)
	}
	var docs []struct {
		ID      primitive.ObjectID `bson:"_id"`
		OrderID string             `bson:"orderId"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return payment.Page{}, fmt.Errorf("reading charges: %w", err)
	}
	p := payment.Page{OrderIDs: make([]string, len(docs))}
	for i, d := range docs {
		p.OrderIDs[i] = d.OrderID
	}
	if len(docs) == limit && limit > 0 {
		p.Next = docs[len(docs)-1].ID.Hex()
	}
	return p, nil
}
