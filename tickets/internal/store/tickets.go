// Package store keeps tickets in MongoDB. Every write that changes a ticket
// stores the event it causes on the ticket itself (common/outbox), in the same
// single-document write, so a broker outage delays the event and never loses
// it.
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
	"ticketing.dev/tickets/internal/ticket"
)

// maxConflicts bounds how often Update retries after another writer changed
// the ticket between its read and its write.
const maxConflicts = 20

// Tickets is the tickets collection, with the closed orders that keep late
// order events from reserving (holds.go).
type Tickets struct {
	coll   *mongo.Collection
	outbox *outbox.Outbox
	closed *mongo.Collection
	// between, set only by tests, runs at each step of Reserve and Release.
	between func(step string)
	// changed runs after every write that changed a ticket (OnChange).
	changed func()
}

// OnChange has changed run after every write of this store that changed a
// ticket, once the database has it: the public reads' snapshots drop what
// they hold (api.Snapshots.Changed). Call it before the store is used.
func (s *Tickets) OnChange(changed func()) { s.changed = changed }

func (s *Tickets) wrote() {
	s.outbox.Queued()
	if s.changed != nil {
		s.changed()
	}
}

// New returns the store over db's "tickets" and "closedOrders" collections.
func New(db *mongo.Database) *Tickets {
	coll := db.Collection("tickets")
	return &Tickets{coll: coll, outbox: outbox.New(coll), closed: db.Collection("closedOrders")}
}

// Outbox is where the store queues ticket events, for the relay to publish.
func (s *Tickets) Outbox() *outbox.Outbox { return s.outbox }

// EnsureIndexes creates the indexes behind the list for sale and a seller's listings.
func (s *Tickets) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{
			Keys:    bson.D{{Key: "orderId", Value: 1}, {Key: "sold", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}},
			Options: options.Index().SetName("for_sale"),
		},
		mongo.IndexModel{
			Keys:    bson.D{{Key: "userId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}},
			Options: options.Index().SetName("by_seller"),
		},
	)
}

type ticketDoc struct {
	ID        primitive.ObjectID `bson:"_id"`
	UserID    string             `bson:"userId"`
	Title     string             `bson:"title"`
	Price     money.Price        `bson:"price"`
	Version   int64              `bson:"version"`
	OrderID   string             `bson:"orderId"`
	Sold      bool               `bson:"sold"`
	CreatedAt time.Time          `bson:"createdAt"`
	Outbox    []outbox.Pending   `bson:"outbox,omitempty"`
}

func (d ticketDoc) ticket() ticket.Ticket {
	return ticket.Ticket{
		ID: d.ID.Hex(), UserID: d.UserID, Title: d.Title, Price: d.Price, Version: d.Version,
		OrderID: d.OrderID, Sold: d.Sold, CreatedAt: d.CreatedAt,
	}
}

// withoutOutbox keeps pending events out of reads: they are the relay's business.
var withoutOutbox = bson.M{outbox.Field: 0}

// Create stores t with its ticket:created event in one insert, and fills in
// t.ID and t.CreatedAt's stored precision.
func (s *Tickets) Create(ctx context.Context, t *ticket.Ticket) error {
	id := primitive.NewObjectID()
	t.ID = id.Hex()
	t.CreatedAt = paging.Truncate(t.CreatedAt)
	ev, err := outbox.NewPending(ctx, events.TicketCreated{ID: t.ID, Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID})
	if err != nil {
		return err
	}
	doc := ticketDoc{
		ID: id, UserID: t.UserID, Title: t.Title, Price: t.Price, Version: t.Version,
		CreatedAt: t.CreatedAt, Outbox: []outbox.Pending{ev},
	}
	if err := s.outbox.Mark(ctx, id, ev); err != nil {
		return err
	}
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("inserting ticket: %w", err)
	}
	s.wrote()
	return nil
}

// Get returns the ticket with id; ticket.ErrNotFound also for a malformed id.
func (s *Tickets) Get(ctx context.Context, id string) (ticket.Ticket, error) {
	oid, ok := mongox.ParseID(id)
	if !ok {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	var doc ticketDoc
	err := s.coll.FindOne(ctx, bson.M{"_id": oid}, options.FindOne().SetProjection(withoutOutbox)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("finding ticket: %w", err)
	}
	return doc.ticket(), nil
}

// Update applies change to the ticket and stores the result, with its
// ticket:updated event, in one write conditional on the version it read. If
// another writer got there first, it reads the ticket again and retries. A
// change that leaves the version alone (a repeated event) writes nothing. It
// returns the ticket as stored.
func (s *Tickets) Update(ctx context.Context, id string, change func(*ticket.Ticket) error) (ticket.Ticket, error) {
	for range maxConflicts {
		t, err := s.Get(ctx, id)
		if err != nil {
			return ticket.Ticket{}, err
		}
		read := t.Version
		if err := change(&t); err != nil {
			return t, err
		}
		if t.Version == read {
			return t, nil
		}
		if t.Version != read+1 {
			return t, fmt.Errorf("a change must bump the version by one, not from %d to %d", read, t.Version)
		}
		ev, err := outbox.NewPending(ctx, events.TicketUpdated{
			ID: t.ID, Version: t.Version, Title: t.Title, Price: t.Price, UserID: t.UserID, OrderID: t.OrderID, Sold: t.Sold,
		})
		if err != nil {
			return t, err
		}
		oid, _ := mongox.ParseID(t.ID)
		if err := s.outbox.Mark(ctx, oid, ev); err != nil {
			return t, err
		}
		res, err := s.coll.UpdateOne(ctx, bson.M{"_id": oid, "version": read}, bson.D{
			{Key: "$set", Value: bson.M{
				"title": t.Title, "price": t.Price, "version": t.Version,
				"orderId": t.OrderID, "sold": t.Sold,
			}},
			outbox.Push(ev),
		})
		if err != nil {
			return t, fmt.Errorf("updating ticket: %w", err)
		}
		if res.MatchedCount == 1 {
			s.wrote()
			return t, nil
		}
	}
	return ticket.Ticket{}, fmt.Errorf("updating ticket %s: still conflicting after %d attempts", id, maxConflicts)
}

// ForSale lists tickets nobody holds, newest first.
func (s *Tickets) ForSale(ctx context.Context, p paging.Page) ([]ticket.Ticket, string, error) {
	return s.list(ctx, bson.M{"orderId": "", "sold": false}, p)
}

// BySeller lists one seller's tickets in every state, newest first.
func (s *Tickets) BySeller(ctx context.Context, sellerID string, p paging.Page) ([]ticket.Ticket, string, error) {
	return s.list(ctx, bson.M{"userId": sellerID}, p)
}

func (s *Tickets) list(ctx context.Context, filter bson.M, p paging.Page) ([]ticket.Ticket, string, error) {
	docs, next, err := paging.Find(ctx, s.coll, filter, withoutOutbox, p,
		func(d ticketDoc) paging.Cursor { return paging.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
	if err != nil {
		return nil, "", err
	}
	out := make([]ticket.Ticket, len(docs))
	for i, d := range docs {
		out[i] = d.ticket()
	}
	return out, next, nil
}
