// Package mongox connects to MongoDB (or any server speaking its wire protocol)
// and holds the small helpers every store shares.
//
// # Durability
//
// Connect's client writes with write concern {w: "majority", j: true}: the
// server acknowledges a write only once a majority of the replica set has it
// in its journal, so an acknowledged write survives a crash of the primary and
// a failover. Every store publishes its events through an outbox in the same
// document, so without this an event could be published for a write a
// failover then rolls back. A standalone server (and a sharded cluster, where
// mongos passes the concern on) accepts the same concern: "majority" of one is
// that one, journalled. A deployment that needs something else sets w or
// journal in MONGO_URI, and those take precedence one by one (w=0 drops the
// journal default: an unacknowledged write cannot wait for the journal).
//
// FerretDB 1.24, which tests and local runs use, accepts both fields on every
// command and ignores them: it is one process on one SQLite file in WAL mode,
// which has no replica to wait for. The concern therefore costs nothing there,
// and the store tests run with it (testenv's databases use ClientOptions).
//
// Reads are "local" by default. A read whose result is published — the outbox
// relay's — should see only majority-committed data, or it could publish what
// a failover rolls back; MajorityReads gives a collection that reads so.
//
// A write whose concern is not satisfied in time (a majority unreachable) ends
// in an error although the primary may have applied it: IsUnavailable counts
// it, and callers treat it like any ambiguous write, by re-reading.
package mongox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readconcern"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/x/mongo/driver"
	"go.mongodb.org/mongo-driver/x/mongo/driver/connstring"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"
)

// Connect opens a client for uri and returns the database the uri names, or
// defaultDB when it names none. It does not wait for the server: readiness
// (Ping) says when it answers, so a service may start before its database.
func Connect(ctx context.Context, uri, defaultDB string) (*mongo.Client, *mongo.Database, error) {
	return ConnectMonitored(ctx, uri, defaultDB, nil)
}

// ConnectMonitored is Connect with a command monitor (tracing.Monitor: a span
// per command); nil monitors nothing.
func ConnectMonitored(ctx context.Context, uri, defaultDB string, monitor *event.CommandMonitor) (*mongo.Client, *mongo.Database, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("MONGO_URI: %w", err)
	}
	name := cs.Database
	if name == "" {
		name = defaultDB
	}
	opts := ClientOptions(uri).SetServerSelectionTimeout(5 * time.Second).SetTimeout(10 * time.Second)
	if monitor != nil {
		opts.SetMonitor(monitor)
	}
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to mongo: %w", err)
	}
	return client, client.Database(name), nil
}

// ClientOptions are the options for uri with the write concern the package
// doc describes: majority and journal, unless uri sets its own w or journal.
func ClientOptions(uri string) *options.ClientOptions {
	opts := options.Client().ApplyURI(uri)
	cs, err := connstring.Parse(uri)
	if err != nil {
		return opts // mongo.Connect reports what ApplyURI found wrong
	}
	return opts.SetWriteConcern(durable(opts.WriteConcern, cs))
}

// durable fills in what the URI leaves open: w majority, and the journal for
// any acknowledged write. It reads w and journal from cs, because the
// driver's own parse drops journal=false; fromURI (nil when the URI sets no
// write concern) keeps the rest, such as wtimeoutMS.
func durable(fromURI *writeconcern.WriteConcern, cs *connstring.ConnString) *writeconcern.WriteConcern {
	wc := &writeconcern.WriteConcern{}
	if fromURI != nil {
		*wc = *fromURI
	}
	switch {
	case cs.WString != "":
		wc.W = cs.WString
	case cs.WNumberSet:
		wc.W = cs.WNumber
	default:
		wc.W = "majority"
	}
	journal := true
	switch {
	case cs.JSet:
		journal = cs.J
	case wc.W == 0:
		wc.Journal = nil // the driver refuses w=0 with j=true
		return wc
	}
	wc.Journal = &journal
	return wc
}

// MajorityReads returns coll (with its database's other settings) reading
// with read concern "majority": only data a majority of the replica set has
// acknowledged, which no failover rolls back. It is for reads whose result
// leaves the service, such as the outbox relay's. FerretDB ignores it.
func MajorityReads(coll *mongo.Collection) *mongo.Collection {
	return coll.Database().Collection(coll.Name(), options.Collection().SetReadConcern(readconcern.Majority()))
}

// Ping is a readiness check for db's server: it selects the primary, the
// one member that takes writes, whatever read preference MONGO_URI sets. On a
// replica set it fails while no primary is reachable (an election, a lost
// majority); a standalone server is its own primary.
func Ping(db *mongo.Database) func(context.Context) error {
	return func(ctx context.Context) error {
		return db.Client().Ping(ctx, readpref.Primary())
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

// IsUnavailable reports whether err means the database could not be reached,
// or could not confirm a write: its write concern was not satisfied (a
// majority out of reach), or the primary stepped down or shut down under it.
// Such a write may have been applied; it is never a refusal of the input.
// An operation that found its connection pool cleared by another's network
// error is unavailable too: it never reached the database.
func IsUnavailable(err error) bool {
	var selection topology.ServerSelectionError
	var labeled mongo.LabeledError
	var pool driver.RetryablePoolError
	return mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.As(err, &selection) ||
		errors.Is(err, mongo.ErrClientDisconnected) || hasWriteConcernError(err) ||
		(errors.As(err, &labeled) && labeled.HasErrorLabel("RetryableWriteError")) ||
		(errors.As(err, &pool) && pool.Retryable())
}

func hasWriteConcernError(err error) bool {
	var we mongo.WriteException
	var bwe mongo.BulkWriteException
	return (errors.As(err, &we) && we.WriteConcernError != nil) ||
		(errors.As(err, &bwe) && bwe.WriteConcernError != nil)
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
