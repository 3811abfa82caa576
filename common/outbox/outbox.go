// Package outbox makes "change state and publish an event" one atomic write.
//
// MongoDB (and FerretDB, which tests and local runs use) guarantee atomicity for
// one document, and FerretDB has no multi-document transactions. So the events a
// change causes are stored on the changed document itself, in its "outbox"
// array, by the same insert or update that makes the change (Push). A Relay then
// publishes each pending event, oldest first, and removes it only after the
// broker acked it. A crash or a broker outage between the write and the publish
// delays an event; it never loses it. An event may be published twice (a crash
// after the ack, before the removal; two relays at once): consumers are
// idempotent, and the envelope's id lets them recognise a repeat.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// Field is the document field that holds pending events.
const Field = "outbox"

// Pending is one event waiting on its document.
type Pending struct {
	ID       string    `bson:"id"`
	Subject  string    `bson:"subject"`
	Envelope []byte    `bson:"envelope"`
	At       time.Time `bson:"at"`
}

// NewPending wraps p in an envelope ready to be stored.
func NewPending(p events.Payload) (Pending, error) {
	env, err := events.New(p)
	if err != nil {
		return Pending{}, err
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return Pending{}, fmt.Errorf("outbox: encoding %s: %w", p.Subject(), err)
	}
	return Pending{ID: env.ID, Subject: string(env.Subject), Envelope: raw, At: env.OccurredAt}, nil
}

// Push is the update operator that appends events to a document's outbox, to
// be combined with the operators of the change that causes them:
//
//	bson.D{{"$set", ...}, outbox.Push(ev)}
func Push(evs ...Pending) bson.E {
	return bson.E{Key: "$push", Value: bson.M{Field: bson.M{"$each": evs}}}
}

// Publisher is what the relay publishes through (bus.Client).
type Publisher interface {
	Publish(ctx context.Context, e events.Envelope) error
}

// Relay publishes the pending events of some collections.
type Relay struct {
	pub   Publisher
	colls []*mongo.Collection
	log   *slog.Logger
	idle  time.Duration
	retry time.Duration
	wake  chan struct{}
}

const (
	// DefaultIdleInterval is how often a relay with nothing to do looks for
	// pending events anyway: for events that another process wrote and did
	// not live to publish. Each look reads its collections, which on FerretDB
	// means every document, so it is not done every second.
	DefaultIdleInterval = 5 * time.Second
	// DefaultRetryInterval is how soon a relay tries again after publishing
	// failed: the bound on an event's delay once a broker outage ends.
	DefaultRetryInterval = time.Second
)

// NewRelay returns a relay for colls. Call Run to start it.
func NewRelay(pub Publisher, logger *slog.Logger, colls ...*mongo.Collection) *Relay {
	return &Relay{
		pub:   pub,
		colls: colls,
		log:   logger.With("component", "outbox"),
		idle:  DefaultIdleInterval,
		retry: DefaultRetryInterval,
		wake:  make(chan struct{}, 1),
	}
}

// WithInterval sets both the idle and the retry interval (tests).
func (r *Relay) WithInterval(d time.Duration) *Relay {
	r.idle, r.retry = d, d
	return r
}

// Notify asks the relay to look now. Call it after a write that pushed events,
// so they go out at once instead of at the next look. It never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes pending events until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTimer(r.idle)
	defer t.Stop()
	for {
		wait := r.idle
		if _, err := r.Flush(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("publishing pending events; retrying", "in", r.retry, "err", err)
			wait = r.retry
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.wake:
		}
	}
}

// Flush publishes every pending event once, in order per document, and
// returns how many it published. A document whose event fails keeps it and
// everything after it for the next try, so its events never overtake each other.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	published := 0
	var errs []error
	for _, coll := range r.colls {
		n, err := r.flushCollection(ctx, coll)
		published += n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", coll.Name(), err))
		}
	}
	return published, errors.Join(errs...)
}

type pendingDoc struct {
	ID     any       `bson:"_id"`
	Outbox []Pending `bson:"outbox"`
}

func (r *Relay) flushCollection(ctx context.Context, coll *mongo.Collection) (int, error) {
	cur, err := coll.Find(ctx, bson.M{Field + ".0": bson.M{"$exists": true}},
		options.Find().SetProjection(bson.M{Field: 1}))
	if err != nil {
		return 0, err
	}
	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, err
	}
	published := 0
	for _, doc := range docs {
		for _, p := range doc.Outbox {
			var env events.Envelope
			if err := json.Unmarshal(p.Envelope, &env); err != nil {
				// Only our own code writes outboxes; this is a bug, not an outage.
				r.log.Error("dropping undecodable outbox entry", "collection", coll.Name(), "event_id", p.ID, "err", err)
			} else if err := r.pub.Publish(ctx, env); err != nil {
				return published, err
			}
			// Remove the event only while it is still the first one: another
			// relay may have removed it already, and $pop must never drop an
			// event that was not published.
			if _, err := coll.UpdateOne(ctx, bson.M{"_id": doc.ID, Field + ".0.id": p.ID},
				bson.M{"$pop": bson.M{Field: -1}}); err != nil {
				return published, fmt.Errorf("removing published event %s: %w", p.ID, err)
			}
			published++
		}
	}
	return published, nil
}
