package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/internal/payment"
)

// Claim implements payment.Charges.
func (s *Charges) Claim(ctx context.Context, want payment.Charge, now time.Time) (payment.Charge, error) {
	now, lease, deadline := stored(now), stored(want.LeaseUntil), stored(want.SettleAfter)
	// A few rounds at most: each one loses only to a concurrent change that
	// moved the charge on (a failure recorded between two of our reads).
	for range 3 {
		doc := chargeDoc{
			ID: primitive.NewObjectID(), OrderID: want.OrderID, UserID: want.UserID, Status: payment.StatusCreated,
			Amount: want.Amount, Currency: want.Currency, Attempt: 1, AttemptedAt: now, LeaseUntil: lease, SettleAfter: deadline,
			CreatedAt: now, UpdatedAt: now,
		}
		_, err := s.coll.InsertOne(ctx, doc)
		if err == nil {
			return doc.charge(), nil
		}
		if !mongox.IsDuplicateKey(err) {
			return payment.Charge{}, fmt.Errorf("claiming the charge of order %s: %w", want.OrderID, err)
		}
		next, ok, err := s.nextAttempt(ctx, want, now, lease, deadline)
		if err != nil || ok {
			return next, err
		}
		c, err := s.Get(ctx, want.OrderID)
		switch {
		case err != nil:
			return payment.Charge{}, err
		case c.CancelSeen:
			return payment.Charge{}, payment.ErrCancelled
		case c.Status == payment.StatusCompleted:
			return payment.Charge{}, payment.ErrAlreadyPaid
		case c.Status == payment.StatusCreated && c.IntentID != "":
			return c, nil
		case c.Status == payment.StatusCreated && c.LeaseUntil.After(now):
			return payment.Charge{}, payment.ErrInProgress
		case c.Status == payment.StatusFailed && c.Declines >= s.maxDeclines:
			return payment.Charge{}, payment.ErrTooManyAttempts
		}
	}
	return payment.Charge{}, payment.ErrInProgress
}

// nextAttempt opens the next attempt after a failed one, or after one
// abandoned before its intent was stored (its lease lapsed with no intent:
// never confirmed, so it charged nothing). The count of declines is checked
// in the same write, so no number of concurrent requests gets one more.
func (s *Charges) nextAttempt(ctx context.Context, want payment.Charge, now, lease, deadline time.Time) (payment.Charge, bool, error) {
	var next chargeDoc
	err := s.coll.FindOneAndUpdate(ctx, bson.M{
		"orderId": want.OrderID, "cancelSeen": bson.M{"$ne": true},
		"declines": bson.M{"$not": bson.M{"$gte": s.maxDeclines}},
		"$or": bson.A{
			bson.M{"status": payment.StatusFailed},
			bson.M{"status": payment.StatusCreated, "intentId": bson.M{"$exists": false}, "leaseUntil": bson.M{"$lt": now}},
		},
	}, bson.M{
		"$set": bson.M{"status": payment.StatusCreated, "attemptedAt": now, "leaseUntil": lease, "settleAfter": deadline,
			"currency": want.Currency, "updatedAt": now},
		"$unset": bson.M{"intentId": ""},
		"$inc":   bson.M{"attempt": 1},
	}, after).Decode(&next)
	if err == nil {
		return next.charge(), true, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Charge{}, false, fmt.Errorf("claiming a new attempt for order %s: %w", want.OrderID, err)
	}
	return payment.Charge{}, false, nil
}

// BindIntent implements payment.Charges.
func (s *Charges) BindIntent(ctx context.Context, c payment.Charge, intentID string, now time.Time) (payment.Charge, error) {
	filter := s.attemptFilter(c)
	filter["intentId"] = bson.M{"$exists": false}
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx, filter, bson.M{"$set": bson.M{"intentId": intentID, "updatedAt": stored(now)}}, after).Decode(&d)
	if err == nil {
		return d.charge(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return c, fmt.Errorf("storing intent %s of order %s: %w", intentID, c.OrderID, err)
	}
	cur, err := s.Get(ctx, c.OrderID)
	if err == nil && cur.Attempt == c.Attempt && cur.IntentID == intentID {
		return cur, nil
	}
	return c, fmt.Errorf("storing intent %s of order %s: attempt %d moved on: %w", intentID, c.OrderID, c.Attempt, payment.ErrInProgress)
}

// Lease implements payment.Charges.
func (s *Charges) Lease(ctx context.Context, orderID string, now, leaseUntil time.Time) (payment.Charge, bool, error) {
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx,
		bson.M{"orderId": orderID, "status": payment.StatusCreated, "leaseUntil": bson.M{"$lt": stored(now)}},
		bson.M{"$set": bson.M{"leaseUntil": stored(leaseUntil), "updatedAt": stored(now)}}, after).Decode(&d)
	if err == nil {
		return d.charge(), true, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Charge{}, false, fmt.Errorf("leasing the charge of order %s: %w", orderID, err)
	}
	c, err := s.Get(ctx, orderID)
	return c, false, err
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

// Succeeded implements payment.Charges: whichever intent of the order
// succeeds first is the payment, recorded with its payment:created in one
// write; the same intent again changes nothing. It leaves refundDue as it
// is: a cancellation recorded meanwhile already set it.
func (s *Charges) Succeeded(ctx context.Context, orderID, intentID string, now time.Time) (payment.Charge, bool, error) {
	cur, err := s.Get(ctx, orderID)
	if err != nil {
		return cur, false, err
	}
	if done, err := paidBy(cur, intentID); done || err != nil {
		return cur, false, err
	}
	ev, err := outbox.NewPending(ctx, events.PaymentCreated{ID: cur.ID, OrderID: orderID, StripeID: intentID})
	if err != nil {
		return cur, false, err
	}
	id, _ := mongox.ParseID(cur.ID)
	if err := s.outbox.Mark(ctx, id, ev); err != nil {
		return cur, false, err
	}
	var d chargeDoc
	err = s.coll.FindOneAndUpdate(ctx, bson.M{"orderId": orderID, "status": bson.M{"$ne": payment.StatusCompleted}, "attempt": bson.M{"$gt": 0}},
		bson.D{
			{Key: "$set", Value: bson.M{"status": payment.StatusCompleted, "stripeId": intentID, "intentId": intentID,
				"leaseUntil": released, "updatedAt": stored(now)}},
			outbox.Push(ev),
		}, after).Decode(&d)
	if err == nil {
		s.outbox.Queued()
		return d.charge(), true, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		// The write may have landed with its answer lost: the relay looks
		// now rather than at its next poll.
		s.outbox.Queued()
		return cur, false, err
	}
	if cur, err = s.Get(ctx, orderID); err != nil {
		return cur, false, err
	}
	done, err := paidBy(cur, intentID)
	if !done && err == nil {
		err = fmt.Errorf("charge of order %s: no attempt to record %s on", orderID, intentID)
	}
	return cur, false, err
}

// paidBy reports whether c is already paid by intentID; paid by another
// intent is ErrAlreadyPaid, and a charge with no attempt has no payment.
func paidBy(c payment.Charge, intentID string) (bool, error) {
	switch {
	case c.Status == payment.StatusCompleted && c.StripeID == intentID:
		return true, nil
	case c.Status == payment.StatusCompleted:
		return false, payment.ErrAlreadyPaid
	case !c.Attempted():
		return false, payment.ErrChargeNotFound
	}
	return false, nil
}

// Failed implements payment.Charges.
func (s *Charges) Failed(ctx context.Context, c payment.Charge, intentID, message string, declined bool, now time.Time) (payment.Charge, error) {
	update := bson.D{
		{Key: "$set", Value: bson.M{"status": payment.StatusFailed, "failureMessage": message, "leaseUntil": released, "updatedAt": stored(now)}},
		{Key: "$push", Value: bson.M{"failures": failureDoc{Attempt: c.Attempt, Message: message, At: stored(now)}}},
	}
	if declined {
		// In the write that closes the attempt, so a second report of the
		// same decline (the webhook after the answer) cannot count it twice.
		update = append(update, bson.E{Key: "$inc", Value: bson.M{"declines": 1}})
	}
	filter := s.attemptFilter(c)
	if intentID != "" {
		filter["intentId"] = intentID
	} else {
		filter["intentId"] = bson.M{"$exists": false}
	}
	var d chargeDoc
	err := s.coll.FindOneAndUpdate(ctx, filter, update, after).Decode(&d)
	if err == nil {
		return d.charge(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return c, err
	}
	// Closed already, or moved on (paid, a later attempt): nothing to do.
	return s.Get(ctx, c.OrderID)
}
