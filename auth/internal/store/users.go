// Package store keeps users in MongoDB.
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

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
)

// Users is the users collection.
type Users struct {
	coll   *mongo.Collection
	outbox *outbox.Outbox
}

// New returns the store over db's "users" collection.
func New(db *mongo.Database) *Users {
	coll := db.Collection("users")
	return &Users{coll: coll, outbox: outbox.New(coll)}
}

// Outbox is where the store queues user events, for the relay to publish.
func (s *Users) Outbox() *outbox.Outbox { return s.outbox }

// EnsureIndexes creates the unique index that backs "email in use". Emails are
// stored normalised, so a plain unique index is case-insensitive in effect.
func (s *Users) EnsureIndexes(ctx context.Context) error {
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("email_unique"),
	})
	if err != nil {
		return fmt.Errorf("creating users index: %w", err)
	}
	return nil
}

type userDoc struct {
	ID           primitive.ObjectID `bson:"_id"`
	Email        string             `bson:"email"`
	PasswordHash string             `bson:"passwordHash"`
	CreatedAt    time.Time          `bson:"createdAt"`
	Outbox       []outbox.Pending   `bson:"outbox"`
}

// Create stores u with its user:created event in one write, and fills in u.ID.
func (s *Users) Create(ctx context.Context, u *user.User) error {
	id := primitive.NewObjectID()
	ev, err := outbox.NewPending(ctx, events.UserCreated{ID: id.Hex(), Email: u.Email})
	if err != nil {
		return err
	}
	doc := userDoc{ID: id, Email: u.Email, PasswordHash: u.PasswordHash, CreatedAt: u.CreatedAt, Outbox: []outbox.Pending{ev}}
	if err := s.outbox.Mark(ctx, id, ev); err != nil {
		return err
	}
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		if mongox.IsDuplicateKey(err) {
			return user.ErrEmailInUse
		}
		return fmt.Errorf("inserting user: %w", err)
	}
	s.outbox.Queued()
	u.ID = id.Hex()
	return nil
}

// ByEmail returns the user with that (normalised) email.
func (s *Users) ByEmail(ctx context.Context, email string) (user.User, error) {
	var doc userDoc
	err := s.coll.FindOne(ctx, bson.M{"email": email},
		options.FindOne().SetProjection(bson.M{"outbox": 0})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return user.User{}, user.ErrNotFound
	}
	if err != nil {
		return user.User{}, fmt.Errorf("finding user: %w", err)
	}
	return user.User{ID: doc.ID.Hex(), Email: doc.Email, PasswordHash: doc.PasswordHash, CreatedAt: doc.CreatedAt}, nil
}

// RevokeSessions records that sessions of a user ended before their expiry
// and queues the session:revoked event that tells every service, in one
// write on the user's document. A signout-all also keeps its instant on the
// user (revokedBefore); a single signout is recorded by its event alone,
// which the broker keeps for SESSION_TTL, as long as the token could live.
func (s *Users) RevokeSessions(ctx context.Context, rev events.SessionRevoked) error {
	id, err := primitive.ObjectIDFromHex(rev.UserID)
	if err != nil {
		return user.ErrNotFound
	}
	ev, err := outbox.NewPending(ctx, rev)
	if err != nil {
		return err
	}
	if err := s.outbox.Mark(ctx, id, ev); err != nil {
		return err
	}
	update := bson.D{outbox.Push(ev)}
	if !rev.RevokedBefore.IsZero() {
		update = append(update, bson.E{Key: "$max", Value: bson.M{"revokedBefore": rev.RevokedBefore}})
	}
	res, err := s.coll.UpdateOne(ctx, bson.M{"_id": id}, update)
	if err != nil {
		return fmt.Errorf("revoking sessions: %w", err)
	}
	if res.MatchedCount == 0 {
		return user.ErrNotFound
	}
	s.outbox.Queued()
	return nil
}
