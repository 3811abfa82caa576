// Package mongox connects to MongoDB (or any server speaking its wire protocol)
// and holds the small helpers every store shares.
package mongox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"
)

// Connect opens a client for uri and returns the database the uri names, or
// defaultDB when it names none. It does not wait for the server: readiness
// (Ping) says when it answers, so a service may start before its database.
func Connect(ctx context.Context, uri, defaultDB string) (*mongo.Client, *mongo.Database, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	name := cs.Database
	if name == "" {
		name = defaultDB
	}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(5*time.Second).
		SetTimeout(10*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to mongo: %w", err)
	}
	return client, client.Database(name), nil
}

// Ping is a readiness check for db's server.
func Ping(db *mongo.Database) func(context.Context) error {
	return func(ctx context.Context) error {
		return db.Client().Ping(ctx, nil)
	}
}

// ParseID turns a hex id from a URL or body into an ObjectID. ok is false for
// anything malformed, which callers answer as "not found".
func ParseID(s string) (primitive.ObjectID, bool) {
	id, err := primitive.ObjectIDFromHex(s)
	return id, err == nil
}

// IsDuplicateKey reports whether err is a unique index violation.
func IsDuplicateKey(err error) bool {
	return mongo.IsDuplicateKeyError(err)
}

// IsUnavailable reports whether err means the database could not be reached.
func IsUnavailable(err error) bool {
	var selection topology.ServerSelectionError
	return mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.As(err, &selection) ||
		errors.Is(err, mongo.ErrClientDisconnected)
}

// EnsureIndexes creates coll's indexes one call per index. Creating an index
// that exists is a no-op in MongoDB, but FerretDB 1.24 (tests and local runs)
// drops the connection when one createIndexes call names several indexes that
// all exist already — which is every restart.
func EnsureIndexes(ctx context.Context, coll *mongo.Collection, models ...mongo.IndexModel) error {
	for _, m := range models {
		if _, err := coll.Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("creating index on %s: %w", coll.Name(), err)
		}
	}
	return nil
}
