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
//
// # Finding pending events
//
// The relay must find the few documents with pending events among many, at a
// cost that follows the number pending, not the size of the collection. An
// index on the outbox would do on MongoDB, but FerretDB's SQLite backend
// answers every filter other than exactly {_id: X} by decoding the whole
// collection in Go. So a writer first records a hint (Mark) in a small
// per-database collection, HintCollection, and only then writes the document
// with its events. The relay lists hints, oldest first, in bounded batches
// (no filter, sorted by _id, one cursor), and reads each hinted document by _id
// alone. The hint collection holds one small entry per event not yet published
// (plus those of writes that failed, for a while), so listing it costs what is
// pending, on both backends.
//
// A hint names one event: its _id is "<collection>/<time>/<event id>", where
// the time is the event's, to the millisecond, so sorting by _id visits the
// oldest first, and the relay can compute the hint of any event it reads from a
// document. Once it published an event and removed it from the document it
// deletes that event's hint by _id. That is exact and immediate, because a hint
// is never reused: no later write can be relying on it.
//
// A hint whose event is not on its document means one of: the write is still
// on its way (the hint is written first), the write failed or never happened
// (the writer crashed, or a conflicting update matched nothing), or another
// relay published the event a moment ago. The relay cannot tell these apart,
// so it keeps such a hint for HintGrace, far longer than any write can take
// (the client's timeout is 10 s), looking again after ever longer pauses, and
// then deletes it. A write landing later than that is still found by the
// backstop.
//
// The backstop: every BackstopInterval (and when Run starts) each relay reads
// its collections in full, in batches, and adds a hint for any document with
// events and no hint — what a write that outlived HintGrace, or data from
// before hints existed, leaves behind. It is the only full scan, minutes apart.
//
// Events leave a document through $pullAll of the exact entries published,
// filtered by {_id} alone: FerretDB pushes that filter down, the removal is
// idempotent, and it never touches an event that was not published (FerretDB
// does not support a $pull condition, such as {id: X}, at all).
//
// # Durability
//
// The relay reads documents with readConcern "majority" (FerretDB accepts it),
// so on a MongoDB replica set it publishes only events whose write a majority
// holds: a write that a failover rolls back is never announced.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readconcern"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
)

// Field is the document field that holds pending events.
const Field = "outbox"

// HintCollection is the collection, in the same database, where writers mark
// the documents that are about to have pending events (see the package doc).
const HintCollection = "outbox_pending"

// Pending is one event waiting on its document.
type Pending struct {
	ID       string    `bson:"id"`
	Subject  string    `bson:"subject"`
	Envelope []byte    `bson:"envelope"`
	At       time.Time `bson:"at"`
}

// NewPending wraps p in an envelope ready to be stored, with the trace
// context of ctx's span: the relay's publish, however much later, continues
// the trace of the request or event that caused p.
func NewPending(ctx context.Context, p events.Payload) (Pending, error) {
	env, err := events.New(p)
	if err != nil {
		return Pending{}, err
	}
	env.Trace = tracing.Inject(ctx)
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
//
// Call Mark first.
func Push(evs ...Pending) bson.E {
	return bson.E{Key: "$push", Value: bson.M{Field: bson.M{"$each": evs}}}
}

// hint says that the document doc of collection coll may hold the event the
// hint's _id names.
type hint struct {
	ID   string    `bson:"_id"`
	Coll string    `bson:"coll"`
	Doc  any       `bson:"doc"`
	At   time.Time `bson:"at"`
}

// hintID is the _id of the hint for event p of collection coll: sortable by
// the event's time, and computable from the event as the document stores it
// (BSON keeps milliseconds).
func hintID(coll string, p Pending) string {
	return coll + "/" + p.At.UTC().Format("20060102T150405.000Z") + "/" + p.ID
}

// Mark records that the document with _id docID in coll is about to receive
// evs. Call it before the insert or update that stores them, and give up the
// write if it fails: an event written without its hint would wait for the
// backstop. One insert into a small collection, whatever the backend.
func Mark(ctx context.Context, coll *mongo.Collection, docID any, evs ...Pending) error {
	_, err := mark(ctx, coll, docID, evs)
	return err
}

// mark inserts the hints of evs and returns how many did not exist yet.
func mark(ctx context.Context, coll *mongo.Collection, docID any, evs []Pending) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	now := time.Now()
	docs := make([]any, len(evs))
	for i, p := range evs {
		docs[i] = hint{ID: hintID(coll.Name(), p), Coll: coll.Name(), Doc: docID, At: now}
	}
	_, err := coll.Database().Collection(HintCollection).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return len(evs), nil
	}
	if existing, ok := duplicates(err); ok {
		return len(evs) - existing, nil
	}
	return 0, fmt.Errorf("outbox: marking %s: %w", coll.Name(), err)
}

// duplicates reports whether err says only that some hints exist already
// (Mark called twice for the same events; the backstop finding a hinted
// document), and how many.
func duplicates(err error) (int, bool) {
	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) || bulk.WriteConcernError != nil || len(bulk.WriteErrors) == 0 {
		return 1, mongo.IsDuplicateKeyError(err)
	}
	for _, we := range bulk.WriteErrors {
		if we.Code != 11000 {
			return 0, false
		}
	}
	return len(bulk.WriteErrors), true
}

// Publisher is what the relay publishes through (bus.Client).
type Publisher interface {
	Publish(ctx context.Context, e events.Envelope) error
}

const (
	// DefaultIdleInterval is how often a relay with nothing to do looks for
	// pending events anyway: for events that another process wrote and did
	// not live to publish. A look reads only the hint collection.
	DefaultIdleInterval = time.Second
	// DefaultRetryInterval is how soon a relay tries again after publishing
	// failed: the bound on an event's delay once a broker outage ends.
	DefaultRetryInterval = time.Second
	// HintGrace is how long a hint whose event is not (or no longer) on its
	// document is kept: far longer than a write can take, so the write it
	// announces has landed or failed for good by then.
	HintGrace = time.Minute
	// BackstopInterval is how often a relay reads its collections in full
	// for events without a hint.
	BackstopInterval = 5 * time.Minute
	// batchSize bounds the hints a relay holds at once, and so its memory.
	batchSize = 256
	// workers is how many documents a relay publishes at once. Each
	// document's events go out in order, by one worker.
	workers = 8
	// firstRecheck is the shortest pause before a relay looks again at a
	// hint whose event it did not find.
	firstRecheck = 50 * time.Millisecond
)

// Outbox is one collection whose documents carry pending events, as the store
// that writes them holds it: the store marks events before its write (Mark)
// and says when the write queued them (Queued), so the relay publishes at once
// instead of at its next look. Nothing else needs to know an event was queued.
type Outbox struct {
	coll   *mongo.Collection
	queued chan struct{}
}

// New returns the outbox of coll.
func New(coll *mongo.Collection) *Outbox {
	return &Outbox{coll: coll, queued: make(chan struct{}, 1)}
}

// Collection is the collection whose documents carry the events.
func (o *Outbox) Collection() *mongo.Collection { return o.coll }

// Mark records that the document docID is about to receive evs (see the
// package function Mark).
func (o *Outbox) Mark(ctx context.Context, docID any, evs ...Pending) error {
	return Mark(ctx, o.coll, docID, evs...)
}

// Queued tells the relay that a write stored events. It never blocks.
func (o *Outbox) Queued() {
	select {
	case o.queued <- struct{}{}:
	default:
	}
}

// Relay publishes the pending events of some outboxes.
type Relay struct {
	pub      Publisher
	colls    map[string]*mongo.Collection // by database and name
	hints    []*mongo.Collection          // one per database
	log      *slog.Logger
	idle     time.Duration
	retry    time.Duration
	grace    time.Duration
	backstop time.Duration
	wake     chan struct{}
	boxes    []*Outbox

	mu sync.Mutex
	// recheck holds hints whose event was not on its document, and when to
	// look at each again. Bounded by the hints that exist.
	recheck map[string]time.Time
}

// NewRelay returns a relay for boxes. Call Run to start it.
func NewRelay(pub Publisher, logger *slog.Logger, boxes ...*Outbox) *Relay {
	r := &Relay{
		pub:      pub,
		colls:    map[string]*mongo.Collection{},
		log:      logger.With("component", "outbox"),
		idle:     DefaultIdleInterval,
		retry:    DefaultRetryInterval,
		grace:    HintGrace,
		backstop: BackstopInterval,
		wake:     make(chan struct{}, 1),
		recheck:  map[string]time.Time{},
		boxes:    boxes,
	}
	majority := options.Collection().SetReadConcern(readconcern.Majority())
	seen := map[string]bool{}
	for _, box := range boxes {
		c := box.coll
		db := c.Database()
		r.colls[db.Name()+"."+c.Name()] = db.Collection(c.Name(), majority)
		if !seen[db.Name()] {
			seen[db.Name()] = true
			r.hints = append(r.hints, db.Collection(HintCollection))
		}
	}
	return r
}

// WithInterval sets both the idle and the retry interval (tests).
func (r *Relay) WithInterval(d time.Duration) *Relay {
	r.idle, r.retry = d, d
	return r
}

// WithGrace sets how long a hint without its event is kept (tests).
func (r *Relay) WithGrace(d time.Duration) *Relay {
	r.grace = d
	return r
}

// Notify asks the relay to look now. Stores call their Outbox's Queued
// instead; Notify is for what has no outbox of its own (tests, tools). It
// never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes pending events until ctx ends, and runs the backstop when it
// starts and every BackstopInterval.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.runBackstop(ctx)
	}()
	for _, box := range r.boxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.listen(ctx, box)
		}()
	}
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

// listen wakes the relay whenever box's store queued events.
func (r *Relay) listen(ctx context.Context, box *Outbox) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-box.queued:
			r.Notify()
		}
	}
}

func (r *Relay) runBackstop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		wait := r.backstop
		if n, err := r.Backstop(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("looking for events without a hint; retrying", "in", r.retry, "err", err)
			wait = r.retry
		} else if n > 0 {
			r.log.Warn("found events without a hint", "documents", n)
			r.Notify()
		}
		t.Reset(wait)
	}
}

// Flush publishes every pending event it finds once, in order per document,
// and returns how many it published. A document whose event fails keeps it
// and everything after it for the next try, so its events never overtake each
// other.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	r.forgetOldRechecks(time.Now())
	published := 0
	var errs []error
	for _, hints := range r.hints {
		n, err := r.flushDatabase(ctx, hints)
		published += n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", hints.Database().Name(), err))
		}
	}
	return published, errors.Join(errs...)
}

// flushDatabase walks the hints of one database, oldest first, through one
// cursor, and publishes them batchSize at a time: one query per pass, and
// never more than a batch in memory. (On FerretDB a query sorted by _id reads
// and sorts the whole hint collection, so a pass pays that once, not once per
// batch; on MongoDB it walks the _id index.)
func (r *Relay) flushDatabase(ctx context.Context, hints *mongo.Collection) (int, error) {
	cur, err := hints.Find(ctx, bson.M{}, listOptions())
	if err != nil {
		return 0, fmt.Errorf("listing hints: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	published := 0
	batch := make([]hint, 0, batchSize)
	for {
		batch = batch[:0]
		for len(batch) < batchSize && cur.Next(ctx) {
			var h hint
			if err := cur.Decode(&h); err != nil {
				return published, fmt.Errorf("reading a hint: %w", err)
			}
			batch = append(batch, h)
		}
		if err := cur.Err(); err != nil {
			return published, fmt.Errorf("listing hints: %w", err)
		}
		if len(batch) == 0 {
			return published, nil
		}
		n, err := r.flushBatch(ctx, hints, batch)
		published += n
		if err != nil || len(batch) < batchSize {
			return published, err
		}
	}
}

// listOptions make the relay's one query: every hint, by _id.
func listOptions() *options.FindOptions {
	return options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(batchSize)
}

// docKey names one document across a relay's collections.
type docKey struct {
	coll string
	doc  string
}

// hintedDoc is one document to look at, and the hints that led to it.
type hintedDoc struct {
	coll  *mongo.Collection
	hints []hint
}

func (r *Relay) flushBatch(ctx context.Context, hints *mongo.Collection, batch []hint) (int, error) {
	now := time.Now()
	var order []docKey
	docs := map[docKey]*hintedDoc{}
	for _, h := range batch {
		coll, ok := r.colls[hints.Database().Name()+"."+h.Coll]
		if !ok || !r.due(h.ID, now) {
			continue // another relay's collection, or looked at a moment ago
		}
		k := docKey{coll: h.Coll, doc: fmt.Sprint(h.Doc)}
		d, ok := docs[k]
		if !ok {
			d = &hintedDoc{coll: coll}
			docs[k] = d
			order = append(order, k)
		}
		d.hints = append(d.hints, h)
	}

	var (
		mu        sync.Mutex
		published int
		errs      []error
		wg        sync.WaitGroup
		slots     = make(chan struct{}, workers)
	)
	for _, k := range order {
		slots <- struct{}{}
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed {
			// The broker or the database is failing: the next try, after
			// the retry interval, goes through the rest.
			<-slots
			break
		}
		wg.Add(1)
		go func(d *hintedDoc) {
			defer func() { <-slots; wg.Done() }()
			n, err := r.flushDocument(ctx, hints, d)
			mu.Lock()
			defer mu.Unlock()
			published += n
			if err != nil {
				errs = append(errs, err)
			}
		}(docs[k])
	}
	wg.Wait()
	return published, errors.Join(errs...)
}

// flushDocument publishes the outbox of one hinted document, oldest first,
// removes what it published, and deletes the hints that are done.
func (r *Relay) flushDocument(ctx context.Context, hints *mongo.Collection, d *hintedDoc) (int, error) {
	id := d.hints[0].Doc
	var doc struct {
		Outbox []bson.Raw `bson:"outbox"`
	}
	err := d.coll.FindOne(ctx, bson.M{"_id": id}, options.FindOne().SetProjection(bson.M{Field: 1})).Decode(&doc)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return 0, fmt.Errorf("%s: reading %v: %w", d.coll.Name(), id, err)
	}
	pass := r.publishOutbox(ctx, d.coll.Name(), id, doc.Outbox)
	if len(pass.done) > 0 {
		// Exactly the entries published, by _id alone: idempotent, and it
		// never removes an event that was not published.
		if _, err := d.coll.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$pullAll": bson.M{Field: pass.done}}); err != nil {
			return 0, errors.Join(pass.err, fmt.Errorf("%s: removing published events of %v: %w", d.coll.Name(), id, err))
		}
	}
	published := len(pass.doneHints)
	for _, hid := range r.settledHints(d.hints, pass) {
		if _, err := hints.DeleteOne(ctx, bson.M{"_id": hid}); err != nil {
			// The hint outlives its event: a wasted read later, nothing lost.
			return published, errors.Join(pass.err, fmt.Errorf("deleting hint %s: %w", hid, err))
		}
		r.forget(hid)
	}
	if pass.err != nil {
		return published, fmt.Errorf("%s: publishing an event of %v: %w", d.coll.Name(), id, pass.err)
	}
	return published, nil
}

// outboxPass is what publishing one document's outbox achieved.
type outboxPass struct {
	done      []bson.Raw      // entries to remove: published, or undecodable
	doneHints []string        // the hints of the events published
	onDoc     map[string]bool // the hints of events left on the document
	err       error           // the publish that failed, if one did
}

// publishOutbox publishes a document's outbox entries in order and stops
// publishing at the first failure, so events of one document never overtake
// each other; what is left waits for the next pass.
func (r *Relay) publishOutbox(ctx context.Context, coll string, id any, outbox []bson.Raw) outboxPass {
	pass := outboxPass{onDoc: map[string]bool{}}
	for _, raw := range outbox {
		var p Pending
		if err := bson.Unmarshal(raw, &p); err != nil {
			// Only our own code writes outboxes; this is a bug, not an outage.
			r.log.Error("dropping undecodable outbox entry", "collection", coll, "doc", id, "err", err)
			pass.done = append(pass.done, raw)
			continue
		}
		hid := hintID(coll, p)
		if pass.err != nil {
			pass.onDoc[hid] = true // not published: its hint stays
			continue
		}
		var env events.Envelope
		if err := json.Unmarshal(p.Envelope, &env); err != nil {
			r.log.Error("dropping undecodable outbox entry", "collection", coll, "event_id", p.ID, "err", err)
		} else if err := r.pub.Publish(ctx, env); err != nil {
			pass.err = err
			pass.onDoc[hid] = true
			continue
		}
		pass.done = append(pass.done, raw)
		pass.doneHints = append(pass.doneHints, hid)
	}
	return pass
}

// settledHints are the hints to delete: those of published events, whether
// this batch brought them or not; then those of events that are not on the
// document, once their grace is over (a hint written before its document's
// update commits must not be taken for a stale one).
func (r *Relay) settledHints(batch []hint, pass outboxPass) []string {
	settled := pass.doneHints
	now := time.Now()
	for _, h := range batch {
		if pass.onDoc[h.ID] || contains(pass.doneHints, h.ID) {
			continue
		}
		if now.Sub(h.At) < r.grace {
			r.lookAgain(h, now)
			continue
		}
		settled = append(settled, h.ID)
	}
	return settled
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// due reports whether the hint may be looked at now.
func (r *Relay) due(id string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, ok := r.recheck[id]
	return !ok || !now.Before(next)
}

// lookAgain schedules the next look at a hint whose event was not found: after
// a pause as long as the hint's age, so a slow write is found about as late
// again as it took, and a failed one costs a handful of reads in all.
func (r *Relay) lookAgain(h hint, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recheck[h.ID] = now.Add(max(firstRecheck, now.Sub(h.At)))
}

func (r *Relay) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.recheck, id)
}

// forgetOldRechecks drops what is kept about hints that another relay has
// deleted by now.
func (r *Relay) forgetOldRechecks(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, next := range r.recheck {
		if now.Sub(next) > 2*r.grace {
			delete(r.recheck, id)
		}
	}
}

// Backstop reads the relay's collections in full, in batches, and adds a hint
// for every document with pending events, so that none is left waiting
// without one. It returns how many hints it had to add. Run calls it every
// BackstopInterval; it is exported for tests and tools.
func (r *Relay) Backstop(ctx context.Context) (int, error) {
	found := 0
	var errs []error
	for _, coll := range r.colls {
		n, err := r.backstopCollection(ctx, coll)
		found += n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", coll.Name(), err))
		}
	}
	return found, errors.Join(errs...)
}

func (r *Relay) backstopCollection(ctx context.Context, coll *mongo.Collection) (int, error) {
	cur, err := coll.Find(ctx, bson.M{Field + ".0": bson.M{"$exists": true}},
		options.Find().SetProjection(bson.M{Field: 1}).SetBatchSize(batchSize))
	if err != nil {
		return 0, err
	}
	defer cur.Close(ctx)
	found := 0
	for cur.Next(ctx) {
		var doc struct {
			ID     any       `bson:"_id"`
			Outbox []Pending `bson:"outbox"`
		}
		if err := cur.Decode(&doc); err != nil {
			return found, err
		}
		if len(doc.Outbox) == 0 {
			continue
		}
		// The first event's hint is enough: the relay publishes the whole
		// outbox of a document it reads.
		n, err := mark(ctx, coll, doc.ID, doc.Outbox[:1])
		if err != nil {
			return found, err
		}
		found += n
	}
	return found, cur.Err()
}
