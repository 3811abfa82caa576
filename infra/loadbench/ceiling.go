package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"golang.org/x/crypto/argon2"
)

// The ceiling loops issue, with the driver and nothing else, the query each
// scenario's request makes, against the same database server (and for reads
// the same collection) the services use. The documents and options mirror
// the services' stores (tickets/internal/store, auth/internal/store,
// orders/internal/store); writes go to scratch collections with the same
// indexes, so the services' data and relays never see them.

const (
	scratchTickets = "loadbench_tickets"
	scratchReplica = "loadbench_replica"
)

// ticketDoc is a ticket as tickets stores it, outbox left out as its reads
// leave it out.
type ticketDoc struct {
	ID           primitive.ObjectID `bson:"_id"`
	UserID       string             `bson:"userId"`
	Title        string             `bson:"title"`
	Price        int64              `bson:"price"`
	Version      int64              `bson:"version"`
	OrderID      string             `bson:"orderId"`
	Sold         bool               `bson:"sold"`
	ClosedOrders []string           `bson:"closedOrders"`
	CreatedAt    time.Time          `bson:"createdAt"`
}

type userDoc struct {
	ID           primitive.ObjectID `bson:"_id"`
	Email        string             `bson:"email"`
	PasswordHash string             `bson:"passwordHash"`
	CreatedAt    time.Time          `bson:"createdAt"`
}

type replicaDoc struct {
	ID      primitive.ObjectID `bson:"_id"`
	Version int64              `bson:"version"`
	Title   string             `bson:"title"`
	Price   int64              `bson:"price"`
	UserID  string             `bson:"userId"`
	OrderID string             `bson:"orderId"`
	HeldAt  *time.Time         `bson:"heldAt"`
	Sold    bool               `bson:"sold"`
}

var withoutOutbox = bson.M{"outbox": 0}

// database is the benchmark's own connection to the system's database server.
type database struct {
	client *mongo.Client
}

func connectDatabase(ctx context.Context, uri string) (*database, error) {
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(5*time.Second).SetTimeout(opTimeout))
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("the database at %s does not answer: %w", uri, err)
	}
	return &database{client: client}, nil
}

func (d *database) tickets() *mongo.Collection {
	return d.client.Database("tickets").Collection("tickets")
}
func (d *database) users() *mongo.Collection { return d.client.Database("auth").Collection("users") }
func (d *database) replica() *mongo.Collection {
	return d.client.Database("orders").Collection("tickets")
}
func (d *database) orders() *mongo.Collection {
	return d.client.Database("orders").Collection("orders")
}

// listPage is GET /api/tickets's query: the first page of tickets for sale,
// newest first, one more than the page to tell whether another follows.
func (d *database) listPage(ctx context.Context) outcome {
	cur, err := d.tickets().Find(ctx, bson.M{"orderId": "", "sold": false}, options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(pageSize+1).SetProjection(withoutOutbox))
	if err != nil {
		return outcome{Err: err}
	}
	var docs []ticketDoc
	if err := cur.All(ctx, &docs); err != nil {
		return outcome{Err: err}
	}
	if len(docs) == 0 {
		return outcome{Err: errors.New("no tickets for sale")}
	}
	return outcome{}
}

// ticketByID is GET /api/tickets/:id's query.
func (d *database) ticketByID(ctx context.Context, id string) outcome {
	oid, err := primitive.ObjectIDFromHex(id)
	if err != nil {
		return outcome{Err: err}
	}
	var doc ticketDoc
	return outcome{Err: d.tickets().FindOne(ctx, bson.M{"_id": oid}, options.FindOne().SetProjection(withoutOutbox)).Decode(&doc)}
}

// userByEmail is signin's query.
func (d *database) userByEmail(ctx context.Context, email string) outcome {
	var doc userDoc
	return outcome{Err: d.users().FindOne(ctx, bson.M{"email": email}, options.FindOne().SetProjection(withoutOutbox)).Decode(&doc)}
}

// prepareScratchTickets makes an empty collection in the tickets database
// with the tickets collection's indexes.
func (d *database) prepareScratchTickets(ctx context.Context) (*mongo.Collection, error) {
	coll := d.client.Database("tickets").Collection(scratchTickets)
	if err := coll.Drop(ctx); err != nil {
		return nil, err
	}
	for _, m := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "orderId", Value: 1}, {Key: "sold", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("for_sale")},
		{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("by_seller")},
	} {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			return nil, err
		}
	}
	return coll, nil
}

// pendingEvent is an outbox entry shaped like common/outbox's, with an
// envelope of the size a ticket:created envelope has.
type pendingEvent struct {
	ID       string    `bson:"id"`
	Subject  string    `bson:"subject"`
	Envelope []byte    `bson:"envelope"`
	At       time.Time `bson:"at"`
}

// insertTicket is POST /api/tickets's write: the ticket with its
// ticket:created event, one insert.
func insertTicket(ctx context.Context, coll *mongo.Collection, seller string, i int) outcome {
	now := time.Now().UTC().Truncate(time.Millisecond)
	id := primitive.NewObjectID()
	envelope := fmt.Appendf(nil, `{"id":"%s","subject":"ticket:created","occurredAt":"%s","data":{"id":"%s","version":0,"title":"Ceiling %d","price":42.5,"userId":"%s"}}`,
		primitive.NewObjectID().Hex(), now.Format(time.RFC3339Nano), id.Hex(), i, seller)
	doc := bson.M{
		"_id": id, "userId": seller, "title": fmt.Sprint("Ceiling ", i), "price": int64(4250), "version": int64(0),
		"orderId": "", "sold": false, "closedOrders": bson.A{}, "createdAt": now,
		"outbox": bson.A{pendingEvent{ID: primitive.NewObjectID().Hex(), Subject: "ticket:created", Envelope: envelope, At: now}},
	}
	_, err := coll.InsertOne(ctx, doc)
	return outcome{Err: err}
}

// prepareScratchReplica copies orders' replica of tickets into a scratch
// collection, so the ceiling's conditional updates scan as many documents as
// the service's do (FerretDB's SQLite backend reads the whole collection for
// any filter other than a lone _id).
func (d *database) prepareScratchReplica(ctx context.Context) (*mongo.Collection, error) {
	coll := d.client.Database("orders").Collection(scratchReplica)
	if err := coll.Drop(ctx); err != nil {
		return nil, err
	}
	cur, err := d.replica().Find(ctx, bson.M{})
	if err != nil {
		return nil, err
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	for len(docs) > 0 {
		batch := docs[:min(len(docs), 500)]
		docs = docs[len(batch):]
		if _, err := coll.InsertMany(ctx, toAny(batch)); err != nil {
			return nil, err
		}
	}
	return coll, nil
}

func toAny[T any](in []T) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

// reserve is POST /api/orders's decisive write: the conditional update that
// holds a free ticket for one buyer. It answers 201 when it won and 409 when
// the ticket was taken, like the route.
func reserve(ctx context.Context, coll *mongo.Collection, ticket primitive.ObjectID, buyer string) outcome {
	var doc replicaDoc
	err := coll.FindOneAndUpdate(ctx,
		bson.M{"_id": ticket, "orderId": "", "sold": false, "userId": bson.M{"$ne": buyer}},
		bson.M{"$set": bson.M{"orderId": primitive.NewObjectID().Hex(), "heldAt": time.Now().UTC()}},
		options.FindOneAndUpdate().SetReturnDocument(options.After),
	).Decode(&doc)
	switch {
	case err == nil:
		return outcome{Status: 201}
	case errors.Is(err, mongo.ErrNoDocuments):
		return outcome{Status: 409}
	}
	return outcome{Err: err}
}

// dropScratch removes the scratch collections.
func (d *database) dropScratch(ctx context.Context) error {
	return errors.Join(
		d.client.Database("tickets").Collection(scratchTickets).Drop(ctx),
		d.client.Database("orders").Collection(scratchReplica).Drop(ctx),
	)
}

// hashPassword is one argon2id hash with auth's parameters (19 MiB, 2
// passes, 1 lane, 32-byte key; auth/internal/user): the cost of a signin
// that no database can lower.
func hashPassword() outcome {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return outcome{Err: err}
	}
	_ = argon2.IDKey([]byte(benchPassword), salt, 2, 19*1024, 1, 32)
	return outcome{}
}
