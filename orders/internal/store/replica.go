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
	"ticketing.dev/orders/internal/order"
)

// replicaDoc is one replicated ticket. version, title, price and userId come
// from tickets' events; orderId, heldBy, heldAt and sold are orders' own hold
// and are never written from tickets' events (see ApplyTicketUpdated).
//
// heldAt is when the hold was placed, until the sweeper has seen its order
// live: then it is moved to the order's expiresAt, so that the sweeper does
// not read the same live order again on every pass (see Sweep).
type replicaDoc struct {
	ID      primitive.ObjectID `bson:"_id"`
	Version int64              `bson:"version"`
	Title   string             `bson:"title"`
	Price   money.Price        `bson:"price"`
	UserID  string             `bson:"userId"`
	OrderID string             `bson:"orderId"`
	HeldBy  string             `bson:"heldBy,omitempty"`
	HeldAt  *time.Time         `bson:"heldAt"`
	Sold    bool               `bson:"sold"`
}

func (d replicaDoc) ticket() order.ReplicaTicket {
	return order.ReplicaTicket{
		ID: d.ID.Hex(), Version: d.Version, Title: d.Title, Price: d.Price,
		SellerID: d.UserID, OrderID: d.OrderID, HeldBy: d.HeldBy, Sold: d.Sold,
	}
}

func parseTicketID(id string) (primitive.ObjectID, error) {
	oid, ok := mongox.ParseID(id)
	if !ok {
		return oid, fmt.Errorf("ticket id %q: %w", id, order.ErrTicketNotFound)
	}
	return oid, nil
}

// ApplyTicketCreated adds a ticket to the replica. A repeat is a no-op, even
// after later versions were applied.
func (s *Store) ApplyTicketCreated(ctx context.Context, e events.TicketCreated) error {
	id, err := parseTicketID(e.ID)
	if err != nil {
		return err
	}
	_, err = s.tickets.InsertOne(ctx, replicaDoc{ID: id, Version: e.Version, Title: e.Title, Price: e.Price, UserID: e.UserID})
	if err != nil && !mongox.IsDuplicateKey(err) {
		return fmt.Errorf("replicating ticket %s: %w", e.ID, err)
	}
	return nil
}

// ApplyTicketUpdated applies version N only on top of N-1, in one conditional
// update. A version the replica has (or has passed) is a no-op; a version that
// arrived before the ones under it is order.ErrReplicaBehind (not acked, so it
// comes back).
//
// Only the catalogue data is copied: version, title, price, seller. The event's
// orderId and sold are tickets' view of orders' own decisions, and they lag: a
// ticket:updated "reserved by A" can arrive after orders cancelled A and a
// buyer B took the ticket, and a ticket:updated "free" after B reserved.
// Copying them would release B's hold or re-lock a free ticket. Orders alone
// decides holds, so the replica's hold fields are written only by Reserve,
// release and markSold.
func (s *Store) ApplyTicketUpdated(ctx context.Context, e events.TicketUpdated) error {
	id, err := parseTicketID(e.ID)
	if err != nil {
		return err
	}
	res, err := s.tickets.UpdateOne(ctx, bson.M{"_id": id, "version": e.Version - 1}, bson.M{"$set": bson.M{
		"version": e.Version, "title": e.Title, "price": e.Price, "userId": e.UserID,
	}})
	if err != nil {
		return fmt.Errorf("replicating ticket %s v%d: %w", e.ID, e.Version, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	current, err := s.Ticket(ctx, e.ID)
	switch {
	case errors.Is(err, order.ErrTicketNotFound):
		return fmt.Errorf("ticket %s v%d before its ticket:created: %w", e.ID, e.Version, order.ErrReplicaBehind)
	case err != nil:
		return err
	case current.Version >= e.Version:
		return nil
	}
	return fmt.Errorf("ticket %s v%d on top of v%d: %w", e.ID, e.Version, current.Version, order.ErrReplicaBehind)
}

// Ticket returns the replica of one ticket.
func (s *Store) Ticket(ctx context.Context, id string) (order.ReplicaTicket, error) {
	oid, err := parseTicketID(id)
	if err != nil {
		return order.ReplicaTicket{}, err
	}
	var doc replicaDoc
	err = s.tickets.FindOne(ctx, bson.M{"_id": oid}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return order.ReplicaTicket{}, order.ErrTicketNotFound
	}
	if err != nil {
		return order.ReplicaTicket{}, fmt.Errorf("finding ticket: %w", err)
	}
	return doc.ticket(), nil
}

// hold is the reservation itself: one conditional update that takes the
// ticket only if nobody holds it, it is not sold, and the buyer is not its
// seller. It returns the ticket as the update left it, so the title, price and
// version are exactly those the hold was placed on. Of any number of
// concurrent buyers exactly one matches. A refusal returns the ticket as it
// was read, so the caller can see who holds it.
func (s *Store) hold(ctx context.Context, ticketID primitive.ObjectID, orderID, buyerID string, at time.Time) (order.ReplicaTicket, error) {
	// A miss is explained by reading the ticket afterwards. If it was freed
	// in between, the hold is tried again, a few times at most.
	for range 3 {
		var doc replicaDoc
		err := s.tickets.FindOneAndUpdate(ctx,
			bson.M{"_id": ticketID, "orderId": "", "sold": false, "userId": bson.M{"$ne": buyerID}},
			bson.M{"$set": bson.M{"orderId": orderID, "heldBy": buyerID, "heldAt": at}},
			options.FindOneAndUpdate().SetReturnDocument(options.After),
		).Decode(&doc)
		if err == nil {
			return doc.ticket(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return order.ReplicaTicket{}, fmt.Errorf("holding ticket: %w", err)
		}
		current, err := s.Ticket(ctx, ticketID.Hex())
		if err != nil {
			return order.ReplicaTicket{}, err
		}
		switch {
		case current.SellerID == buyerID:
			return current, order.ErrOwnTicket
		case current.Sold:
			return current, order.ErrTicketSold
		case current.OrderID != "":
			return current, order.ErrTicketReserved
		}
	}
	return order.ReplicaTicket{}, order.ErrTicketReserved
}

// release frees the ticket if, and only if, orderID holds it and has not
// bought it.
func (s *Store) release(ctx context.Context, ticketID, orderID string) error {
	id, err := parseTicketID(ticketID)
	if err != nil {
		return err
	}
	_, err = s.tickets.UpdateOne(ctx, bson.M{"_id": id, "orderId": orderID, "sold": false},
		bson.M{"$set": bson.M{"orderId": "", "heldAt": nil}, "$unset": bson.M{"heldBy": ""}})
	if err != nil {
		return fmt.Errorf("releasing ticket %s: %w", ticketID, err)
	}
	return nil
}

// markSold records that orderID, which holds the ticket, bought it. Matching
// nothing is an error, never ignored: it means the order completed without
// holding its ticket, which Complete exists to prevent.
func (s *Store) markSold(ctx context.Context, ticketID, orderID string) error {
	id, err := parseTicketID(ticketID)
	if err != nil {
		return err
	}
	res, err := s.tickets.UpdateOne(ctx, bson.M{"_id": id, "orderId": orderID},
		bson.M{"$set": bson.M{"sold": true, "heldAt": nil}})
	if err != nil {
		return fmt.Errorf("marking ticket %s sold: %w", ticketID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("marking ticket %s sold: order %s does not hold it", ticketID, orderID)
	}
	return nil
}

// recheckAt moves a live order's hold out of the sweeper's sight until at.
func (s *Store) recheckAt(ctx context.Context, ticketID primitive.ObjectID, orderID string, at time.Time) error {
	_, err := s.tickets.UpdateOne(ctx, bson.M{"_id": ticketID, "orderId": orderID, "sold": false},
		bson.M{"$set": bson.M{"heldAt": at.UTC()}})
	if err != nil {
		return fmt.Errorf("deferring the sweep of ticket %s: %w", ticketID.Hex(), err)
	}
	return nil
}
