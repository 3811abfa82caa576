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
	"ticketing.dev/common/paging"
	"ticketing.dev/orders/internal/order"
)

type orderTicketDoc struct {
	ID    string      `bson:"id"`
	Title string      `bson:"title"`
	Price money.Price `bson:"price"`
}

type orderDoc struct {
	ID            primitive.ObjectID `bson:"_id"`
	UserID        string             `bson:"userId"`
	Status        events.OrderStatus `bson:"status"`
	ExpiresAt     time.Time          `bson:"expiresAt"`
	Ticket        orderTicketDoc     `bson:"ticket"`
	TicketVersion int64              `bson:"ticketVersion"`
	Version       int64              `bson:"version"`
	CreatedAt     time.Time          `bson:"createdAt"`
	PaymentID     string             `bson:"paymentId,omitempty"`
	// Orphan marks the placeholder the sweeper stores under the id of an
	// order whose insert never happened (see sweep.go). It has no buyer, so
	// no list shows it, and Order does not find it.
	Orphan bool             `bson:"orphan,omitempty"`
	Outbox []outbox.Pending `bson:"outbox,omitempty"`
}

func (d orderDoc) order() order.Order {
	return order.Order{
		ID: d.ID.Hex(), UserID: d.UserID, Status: d.Status, ExpiresAt: d.ExpiresAt,
		Ticket:        order.Ticket{ID: d.Ticket.ID, Title: d.Ticket.Title, Price: d.Ticket.Price},
		TicketVersion: d.TicketVersion, Version: d.Version, CreatedAt: d.CreatedAt, PaymentID: d.PaymentID,
	}
}

var withoutOutbox = bson.M{outbox.Field: 0}

func pendings(ctx context.Context, evs []events.Payload) ([]outbox.Pending, error) {
	out := make([]outbox.Pending, 0, len(evs))
	for _, e := range evs {
		p, err := outbox.NewPending(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// insert stores a new order with the events it recorded, in one write.
func (s *Store) insert(ctx context.Context, o *order.Order) error {
	id, ok := mongox.ParseID(o.ID)
	if !ok {
		return fmt.Errorf("order id %q is not an ObjectID", o.ID)
	}
	evs, err := pendings(ctx, o.Events)
	if err != nil {
		return err
	}
	doc := orderDoc{
		ID: id, UserID: o.UserID, Status: o.Status, ExpiresAt: o.ExpiresAt,
		Ticket:        orderTicketDoc{ID: o.Ticket.ID, Title: o.Ticket.Title, Price: o.Ticket.Price},
		TicketVersion: o.TicketVersion, Version: o.Version, CreatedAt: o.CreatedAt, Outbox: evs,
	}
	if err := s.outbox.Mark(ctx, id, evs...); err != nil {
		return err
	}
	if _, err := s.orders.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("inserting order: %w", err)
	}
	s.outbox.Queued()
	o.Events = nil
	return nil
}

// Get returns one order; order.ErrNotFound also for a malformed id.
func (s *Store) Get(ctx context.Context, id string) (order.Order, error) {
	oid, ok := mongox.ParseID(id)
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	// Exactly {_id}, and the placeholder told apart here: FerretDB looks a
	// document up by its id only for that filter, and scans for any other.
	var doc orderDoc
	err := s.orders.FindOne(ctx, bson.M{"_id": oid},
		options.FindOne().SetProjection(withoutOutbox)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && doc.Orphan {
		return order.Order{}, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("finding order: %w", err)
	}
	return doc.order(), nil
}

// ByBuyer lists one buyer's orders, newest first.
func (s *Store) ByBuyer(ctx context.Context, buyerID string, p paging.Page) ([]order.Order, string, error) {
	docs, next, err := paging.Find(ctx, s.orders, bson.M{"userId": buyerID}, withoutOutbox, p,
		func(d orderDoc) paging.Cursor { return paging.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
	if err != nil {
		return nil, "", err
	}
	out := make([]order.Order, len(docs))
	for i, d := range docs {
		out[i] = d.order()
	}
	return out, next, nil
}

// Update applies change to the order and stores the result, with the events
// it recorded, in one write conditional on the version it read; on a conflict
// it reads the order again and retries. A change that records nothing writes
// nothing. It returns the order as stored.
func (s *Store) Update(ctx context.Context, id string, change func(*order.Order) error) (order.Order, error) {
	for range maxConflicts {
		o, err := s.Get(ctx, id)
		if err != nil {
			return order.Order{}, err
		}
		read := o.Version
		if err := change(&o); err != nil {
			return o, err
		}
		if len(o.Events) == 0 {
			return o, nil
		}
		evs, err := pendings(ctx, o.Events)
		if err != nil {
			return o, err
		}
		oid, _ := mongox.ParseID(o.ID)
		if err := s.outbox.Mark(ctx, oid, evs...); err != nil {
			return o, err
		}
		res, err := s.orders.UpdateOne(ctx, bson.M{"_id": oid, "version": read}, bson.D{
			{Key: "$set", Value: bson.M{"status": o.Status, "version": o.Version, "paymentId": o.PaymentID}},
			outbox.Push(evs...),
		})
		if err != nil {
			return o, fmt.Errorf("updating order: %w", err)
		}
		if res.MatchedCount == 1 {
			s.outbox.Queued()
			o.Events = nil
			return o, nil
		}
	}
	return order.Order{}, fmt.Errorf("updating order %s: still conflicting after %d attempts", id, maxConflicts)
}
