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

	"ticketing.dev/common/events"
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
	// Token is kept only while the attempt's outcome is open.
	Token          string           `bson:"token,omitempty"`
	AttemptedAt    time.Time        `bson:"attemptedAt"`
	LeaseUntil     time.Time        `bson:"leaseUntil"`
	StripeID       string           `bson:"stripeId,omitempty"`
	StripeRefundID string           `bson:"stripeRefundId,omitempty"`
	RefundDue      bool             `bson:"refundDue"`
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
		ID: d.ID.Hex(), OrderID: d.OrderID, UserID: d.UserID, Status: d.Status, Amount: d.Amount,
		Attempt: d.Attempt, Token: d.Token, AttemptedAt: d.AttemptedAt, LeaseUntil: d.LeaseUntil, StripeID: d.StripeID,
		StripeRefundID: d.StripeRefundID, RefundDue: d.RefundDue, FailureMessage: d.FailureMessage,
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

// Claim implements payment.Charges.
func (s *Charges) Claim(ctx context.Context, want payment.Charge, now time.Time) (payment.Charge, error) {
	now, lease := stored(now), stored(want.LeaseUntil)
	// A few rounds at most: each one loses only to a concurrent change that
	// moved the charge on (a failure recorded between two of our reads).
	for range 3 {
		doc := chargeDoc{
			ID: primitive.NewObjectID(), OrderID: want.OrderID, UserID: want.UserID, Status: payment.StatusCreated,
			Amount: want.Amount, Currency: payment.Currency, Attempt: 1, Token: want.Token, AttemptedAt: now, LeaseUntil: lease,
			CreatedAt: now, UpdatedAt: now,
		}
		_, err := s.coll.InsertOne(ctx, doc)
		if err == nil {
			return doc.charge(), nil
		}
		if !mongox.IsDuplicateKey(err) {
			return payment.Charge{}, fmt.Errorf("claiming the charge of order %s: %w", want.OrderID, err)
		}

		var next chargeDoc
		err = s.coll.FindOneAndUpdate(ctx, bson.M{"orderId": want.OrderID, "status": payment.StatusFailed}, bson.M{
			"$set": bson.M{"status": payment.StatusCreated, "token": want.Token, "attemptedAt": now, "leaseUntil": lease, "updatedAt": now},
			"$inc": bson.M{"attempt": 1},
		}, after).Decode(&next)
		if err == nil {
			return next.charge(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return payment.Charge{}, fmt.Errorf("claiming a new attempt for order %s: %w", want.OrderID, err)
		}

		c, resumed, err := s.Resume(ctx, want.OrderID, now, lease)
		switch {
		case err != nil:
			return payment.Charge{}, err
		case resumed:
			return c, nil
		case c.Status == payment.StatusCompleted:
			return payment.Charge{}, payment.ErrAlreadyPaid
		case c.Status == payment.StatusCreated:
			return payment.Charge{}, payment.ErrInProgress
		}
	}
	return payment.Charge{}, payment.ErrInProgress
}

// Resume implements payment.Charges.
func (s *Charges) Resume(ctx context.Context, orderID string, now, leaseUntil time.Time) (payment.Charge, bool, error) {
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx,
		bson.M{"orderId": orderID, "status": payment.StatusCreated, "leaseUntil": bson.M{"$lt": stored(now)},
			"attemptedAt": bson.M{"$gt": stored(now.Add(-payment.ReplayWindow))}},
		bson.M{"$set": bson.M{"leaseUntil": stored(leaseUntil), "updatedAt": stored(now)}}, after).Decode(&d)
	if err == nil {
		return d.charge(), true, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Charge{}, false, fmt.Errorf("resuming the charge of order %s: %w", orderID, err)
	}
	c, err := s.Get(ctx, orderID)
	return c, false, err
}

// Succeeded implements payment.Charges.
func (s *Charges) Succeeded(ctx context.Context, c payment.Charge, stripeID string, now time.Time) (payment.Charge, error) {
	ev, err := outbox.NewPending(events.PaymentCreated{ID: c.ID, OrderID: c.OrderID, StripeID: stripeID})
	if err != nil {
		return c, err
	}
	id, _ := mongox.ParseID(c.ID)
	if err := outbox.Mark(ctx, s.coll, id, ev); err != nil {
		return c, err
	}
	var d chargeDoc
	err = s.coll.FindOneAndUpdate(ctx, s.attemptFilter(c), bson.D{
		{Key: "$set", Value: bson.M{"status": payment.StatusCompleted, "stripeId": stripeID, "leaseUntil": released, "updatedAt": stored(now)}},
		{Key: "$unset", Value: bson.M{"token": ""}},
		outbox.Push(ev),
	}, after).Decode(&d)
	if err == nil {
		return d.charge(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return c, err
	}
	// A replay of the same attempt may have recorded it first.
	cur, getErr := s.Get(ctx, c.OrderID)
	if getErr == nil && cur.Status == payment.StatusCompleted && cur.StripeID == stripeID {
		return cur, nil
	}
	return c, fmt.Errorf("charge of order %s moved on from attempt %d before it was recorded", c.OrderID, c.Attempt)
}

// Failed implements payment.Charges.
func (s *Charges) Failed(ctx context.Context, c payment.Charge, message string, now time.Time) (payment.Charge, error) {
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx, s.attemptFilter(c), bson.D{
		{Key: "$set", Value: bson.M{"status": payment.StatusFailed, "failureMessage": message, "leaseUntil": released, "updatedAt": stored(now)}},
		{Key: "$unset", Value: bson.M{"token": ""}},
		{Key: "$push", Value: bson.M{"failures": failureDoc{Attempt: c.Attempt, Message: message, At: stored(now)}}},
	}, after).Decode(&d)
	if err == nil {
		return d.charge(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return c, err
	}
	cur, getErr := s.Get(ctx, c.OrderID)
	if getErr == nil && cur.Attempt == c.Attempt && cur.Status == payment.StatusFailed {
		return cur, nil
	}
	return c, fmt.Errorf("charge of order %s moved on from attempt %d before its failure was recorded", c.OrderID, c.Attempt)
}

// Release implements payment.Charges. Only the holder of the lease releases it.
func (s *Charges) Release(ctx context.Context, c payment.Charge) error {
	filter := s.attemptFilter(c)
	filter["leaseUntil"] = stored(c.LeaseUntil)
	_, err := s.coll.UpdateOne(ctx, filter, bson.M{"$set": bson.M{"leaseUntil": released}})
	return err
}

func (s *Charges) attemptFilter(c payment.Charge) bson.M {
	return bson.M{"orderId": c.OrderID, "status": payment.StatusCreated, "attempt": c.Attempt}
}

// MarkRefundDue implements payment.Charges.
func (s *Charges) MarkRefundDue(ctx context.Context, orderID string, now time.Time) error {
	_, err := s.coll.UpdateOne(ctx,
		bson.M{"orderId": orderID, "status": payment.StatusCompleted, "stripeRefundId": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"refundDue": true, "updatedAt": stored(now)}})
	return err
}

// Refunded implements payment.Charges.
func (s *Charges) Refunded(ctx context.Context, orderID, refundID string, now time.Time) (payment.Charge, error) {
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx, bson.M{"orderId": orderID, "status": payment.StatusCompleted}, bson.M{
		"$set": bson.M{"stripeRefundId": refundID, "refundDue": false, "refundedAt": stored(now), "updatedAt": stored(now)},
	}, after).Decode(&d)
	if err != nil {
		return payment.Charge{}, fmt.Errorf("recording the refund of order %s: %w", orderID, err)
	}
	return d.charge(), nil
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

// Unsettled implements payment.Charges.
func (s *Charges) Unsettled(ctx context.Context, now time.Time) ([]string, error) {
	return s.orderIDs(ctx, bson.M{"$or": bson.A{
		bson.M{"refundDue": true},
		bson.M{"status": payment.StatusCreated, "leaseUntil": bson.M{"$lt": stored(now)},
			"attemptedAt": bson.M{"$gt": stored(now.Add(-payment.ReplayWindow))}},
	}})
}

// Stuck implements payment.Charges.
func (s *Charges) Stuck(ctx context.Context, now time.Time) ([]string, error) {
	return s.orderIDs(ctx, bson.M{"status": payment.StatusCreated,
		"attemptedAt": bson.M{"$lte": stored(now.Add(-payment.ReplayWindow))}})
}

func (s *Charges) orderIDs(ctx context.Context, filter bson.M) ([]string, error) {
	cur, err := s.coll.Find(ctx, filter, options.Find().SetProjection(bson.M{"orderId": 1}))
	if err != nil {
		return nil, fmt.Errorf("finding charges: %w", err)
	}
	var docs []struct {
		OrderID string `bson:"orderId"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("reading charges: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.OrderID
	}
	return ids, nil
}
