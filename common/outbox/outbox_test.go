package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// collector subscribes to a subject and records what arrives for one ticket,
// in order. Other tests' tickets on the shared broker are not its business.
type collector struct {
	ticket string
	mu     sync.Mutex
	got    []events.Envelope
}

func (c *collector) handle(_ context.Context, m bus.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, m.Envelope)
	return nil
}

func (c *collector) titles(t *testing.T) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.got {
		p, err := events.Decode[events.TicketUpdated](e)
		require.NoError(t, err)
		if p.ID == c.ticket {
			out = append(out, p.Title)
		}
	}
	return out
}

func pending(t *testing.T, ticket, title string, version int64) outbox.Pending {
	t.Helper()
	p, err := outbox.NewPending(context.Background(), events.TicketUpdated{ID: ticket, Version: version, Title: title, Price: 1000, UserID: "u1"})
	require.NoError(t, err)
	return p
}

func TestRelayPublishesInOrderAndEmptiesTheOutbox(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	client := testenv.SharedBroker(t).NewBus(t)
	ticket := testenv.RandomName("t")
	got := &collector{ticket: ticket}
	queue := testenv.RandomName("q")
	// One message in flight, so arrival order is the broker's order, which is
	// the order the relay published in (handlers otherwise run concurrently).
	require.NoError(t, client.Subscribe(bus.Subscription{Subject: events.SubjectTicketUpdated, Queue: queue, Handler: got.handle, MaxInflight: 1}))

	a := pending(t, ticket, "a", 1)
	require.NoError(t, outbox.Mark(ctx, coll, ticket, a))
	_, err := coll.InsertOne(ctx, bson.M{"_id": ticket, "title": "a", outbox.Field: []outbox.Pending{a}})
	require.NoError(t, err)
	b, c := pending(t, ticket, "b", 2), pending(t, ticket, "c", 3)
	require.NoError(t, outbox.Mark(ctx, coll, ticket, b, c))
	_, err = coll.UpdateOne(ctx, bson.M{"_id": ticket}, bson.D{{Key: "$set", Value: bson.M{"title": "b"}}, outbox.Push(b, c)})
	require.NoError(t, err)

	relay := outbox.NewRelay(client, testenv.Logger(t), outbox.New(coll))
	n, err := relay.Flush(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	require.Eventually(t, func() bool { return len(got.titles(t)) == 3 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"a", "b", "c"}, got.titles(t))

	var doc bson.M
	require.NoError(t, coll.FindOne(ctx, bson.M{"_id": ticket}).Decode(&doc))
	assert.Empty(t, doc[outbox.Field], "published events are removed from the document")
	assert.Equal(t, "b", doc["title"], "the relay touches only the outbox")
	assert.Zero(t, hintCount(t, db), "the hints of published events are deleted")

	n, err = relay.Flush(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is published twice by one relay")
}

func TestQueuedWakesTheRelayAtOnce(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	box := outbox.New(db.Collection("tickets"))
	client := testenv.SharedBroker(t).NewBus(t)
	ticket := testenv.RandomName("t")
	got := &collector{ticket: ticket}
	require.NoError(t, client.Subscribe(bus.Subscription{Subject: events.SubjectTicketUpdated, Queue: testenv.RandomName("q"), Handler: got.handle}))
	// Idle for an hour: only Queued can make this relay look again.
	relay := outbox.NewRelay(client, testenv.Logger(t), box).WithInterval(time.Hour)
	testenv.Background(t, relay.Run)
	time.Sleep(300 * time.Millisecond) // past the relay's first look and the backstop's

	ev := pending(t, ticket, "queued", 1)
	require.NoError(t, box.Mark(ctx, ticket, ev))
	_, err := box.Collection().InsertOne(ctx, bson.M{"_id": ticket, outbox.Field: []outbox.Pending{ev}})
	require.NoError(t, err)
	box.Queued()
	box.Queued() // a second signal before the relay ran never blocks the store

	require.Eventually(t, func() bool { return len(got.titles(t)) == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"queued"}, got.titles(t))
}

func TestRelayPublishesWhatWasWrittenWhileTheBrokerWasDown(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	nats := testenv.NewBroker(t)
	publisher := nats.NewBus(t)
	relay := outbox.NewRelay(publisher, testenv.Logger(t), outbox.New(coll)).WithInterval(100 * time.Millisecond)
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = relay.Run(relayCtx) }()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	nats.Stop(t)
	ev := pending(t, "t1", "written during outage", 1)
	require.NoError(t, outbox.Mark(ctx, coll, "t1", ev))
	_, err := coll.InsertOne(ctx, bson.M{"_id": "t1", outbox.Field: []outbox.Pending{ev}})
	require.NoError(t, err, "the write itself never depends on the broker")
	relay.Notify()

	// The relay cannot publish, and keeps the event.
	time.Sleep(500 * time.Millisecond) // give the relay several failed attempts
	var doc struct {
		Outbox []outbox.Pending `bson:"outbox"`
	}
	require.NoError(t, coll.FindOne(ctx, bson.M{"_id": "t1"}).Decode(&doc))
	require.Len(t, doc.Outbox, 1, "an unpublished event stays on its document")

	nats.Start(t)
	got := &collector{ticket: "t1"}
	subscriber := nats.NewBus(t)
	require.NoError(t, subscriber.Subscribe(bus.Subscription{Subject: events.SubjectTicketUpdated, Queue: "q", Handler: got.handle}))

	require.Eventually(t, func() bool { return len(got.titles(t)) == 1 }, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"written during outage"}, got.titles(t))
	require.Eventually(t, func() bool {
		var d struct {
			Outbox []outbox.Pending `bson:"outbox"`
		}
		return coll.FindOne(ctx, bson.M{"_id": "t1"}).Decode(&d) == nil && len(d.Outbox) == 0
	}, 10*time.Second, 50*time.Millisecond)
}

func TestPendingCarriesAUniqueEnvelope(t *testing.T) {
	a, b := pending(t, "t1", "x", 1), pending(t, "t1", "x", 1)
	assert.NotEqual(t, a.ID, b.ID)
	var env events.Envelope
	require.NoError(t, json.Unmarshal(a.Envelope, &env))
	assert.Equal(t, a.ID, env.ID)
	assert.Equal(t, events.SubjectTicketUpdated, env.Subject)
}

func hintCount(t *testing.T, db *mongo.Database) int64 {
	t.Helper()
	n, err := db.Collection(outbox.HintCollection).CountDocuments(testenv.Context(t), bson.M{})
	require.NoError(t, err)
	return n
}

func outboxOf(t *testing.T, coll *mongo.Collection, id any) []outbox.Pending {
	t.Helper()
	var d struct {
		Outbox []outbox.Pending `bson:"outbox"`
	}
	require.NoError(t, coll.FindOne(testenv.Context(t), bson.M{"_id": id}).Decode(&d))
	return d.Outbox
}

// write stores a document's change and its events as the stores do: the
// hint first, then one single-document write.
func write(t *testing.T, coll *mongo.Collection, id string, evs ...outbox.Pending) {
	t.Helper()
	ctx := testenv.Context(t)
	require.NoError(t, outbox.Mark(ctx, coll, id, evs...))
	_, err := coll.UpdateOne(ctx, bson.M{"_id": id}, bson.D{{Key: "$set", Value: bson.M{"title": "x"}}, outbox.Push(evs...)},
		options.Update().SetUpsert(true))
	require.NoError(t, err)
}

// unhinted stores a document with an event and no hint: data from before
// hints, or a write that outlived its hint's grace.
func unhinted(t *testing.T, coll *mongo.Collection, id string) outbox.Pending {
	t.Helper()
	ev := pending(t, id, "x", 1)
	_, err := coll.InsertOne(testenv.Context(t), bson.M{"_id": id, outbox.Field: []outbox.Pending{ev}})
	require.NoError(t, err)
	return ev
}

// recorder is a publisher that keeps what it was given, and fails every
// publish after the first okUntil (when okUntil >= 0).
type recorder struct {
	mu      sync.Mutex
	got     []events.Envelope
	okUntil int
}

var errBrokerDown = errors.New("broker down")

func (r *recorder) Publish(_ context.Context, e events.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.okUntil >= 0 && len(r.got) >= r.okUntil {
		return errBrokerDown
	}
	r.got = append(r.got, e)
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.got))
	for i, e := range r.got {
		out[i] = e.ID
	}
	return out
}

func (r *recorder) heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.okUntil = -1
}

func TestABrokerFailingMidBatchNeverCostsAnUnpublishedEvent(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	var evs []outbox.Pending
	for i := range 5 {
		evs = append(evs, pending(t, "t1", fmt.Sprint(i), int64(i+1)))
	}
	write(t, coll, "t1", evs[:2]...)
	write(t, coll, "t1", evs[2:]...)

	pub := &recorder{okUntil: 2}
	relay := outbox.NewRelay(pub, testenv.Logger(t), outbox.New(coll))
	n, err := relay.Flush(ctx)
	require.ErrorIs(t, err, errBrokerDown)
	assert.Equal(t, 2, n)
	assert.Equal(t, []string{evs[0].ID, evs[1].ID}, pub.ids())

	left := outboxOf(t, coll, "t1")
	require.Len(t, left, 3, "exactly the published events left the document")
	for i, p := range left {
		assert.Equal(t, evs[2+i].ID, p.ID, "the unpublished ones stay, in order")
	}
	assert.EqualValues(t, 3, hintCount(t, db), "the unpublished events keep their hints")

	pub.heal()
	n, err = relay.Flush(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	want := make([]string, len(evs))
	for i, p := range evs {
		want[i] = p.ID
	}
	assert.Equal(t, want, pub.ids(), "every event once, in the order written")
	assert.Empty(t, outboxOf(t, coll, "t1"))
	assert.Zero(t, hintCount(t, db))
}

func TestTwoRelaysAtOncePublishEverythingAndLoseNothing(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	client := testenv.SharedBroker(t).NewBus(t)

	var mu sync.Mutex
	seen := map[string][]int64{} // ticket -> versions in arrival order
	queue := testenv.RandomName("q")
	// One at a time, so that arrival order is the broker's order: the order
	// the relays published in is what is asserted.
	require.NoError(t, client.Subscribe(bus.Subscription{Subject: events.SubjectTicketUpdated, Queue: queue, MaxInflight: 1,
		Handler: func(_ context.Context, m bus.Message) error {
			p, err := events.Decode[events.TicketUpdated](m.Envelope)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			seen[p.ID] = append(seen[p.ID], p.Version)
			return nil
		}}))

	relayCtx, stop := context.WithCancel(ctx)
	var relays sync.WaitGroup
	for range 2 {
		relay := outbox.NewRelay(client, testenv.Logger(t), outbox.New(coll)).WithInterval(20 * time.Millisecond)
		relays.Add(1)
		go func() { defer relays.Done(); _ = relay.Run(relayCtx) }()
	}
	t.Cleanup(func() { stop(); relays.Wait() })

	const docs, writes = 20, 5
	prefix := testenv.RandomName("t")
	var writers sync.WaitGroup
	for d := range docs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			id := fmt.Sprintf("%s-%d", prefix, d)
			for v := range writes {
				write(t, coll, id, pending(t, id, "x", int64(v+1)))
			}
		}()
	}
	writers.Wait()

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for d := range docs {
			if distinct(seen[fmt.Sprintf("%s-%d", prefix, d)]) < writes {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "every event is published at least once")
	require.Eventually(t, func() bool {
		n, err := coll.CountDocuments(ctx, bson.M{outbox.Field + ".0": bson.M{"$exists": true}})
		return err == nil && n == 0 && hintCount(t, db) == 0
	}, 10*time.Second, 20*time.Millisecond, "every outbox and every hint is emptied")

	mu.Lock()
	defer mu.Unlock()
	for id, versions := range seen {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix {
			assert.Equal(t, int64(1), versions[0], "%s: the first event of a document comes first", id)
		}
	}
}

func distinct(vs []int64) int {
	m := map[int64]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return len(m)
}

func TestAHintWithoutItsWriteIsKeptForTheGraceAndThenDeleted(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	pub := &recorder{okUntil: -1}
	const grace = 500 * time.Millisecond
	relay := outbox.NewRelay(pub, testenv.Logger(t), outbox.New(coll)).WithGrace(grace)

	// A write on its way: its hint is there, the document not yet.
	late := pending(t, "late", "x", 1)
	require.NoError(t, outbox.Mark(ctx, coll, "late", late))
	// A writer that crashed between its hint and its write.
	lost := pending(t, "lost", "x", 1)
	marked := time.Now()
	require.NoError(t, outbox.Mark(ctx, coll, "lost", lost))

	n, err := relay.Flush(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.EqualValues(t, 2, hintCount(t, db), "a young hint is kept: its write may still come")

	_, err = coll.InsertOne(ctx, bson.M{"_id": "late", outbox.Field: []outbox.Pending{late}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := relay.Flush(ctx)
		return err == nil && len(pub.ids()) == 1
	}, 10*time.Second, 10*time.Millisecond, "the late write's event is published")
	assert.Equal(t, []string{late.ID}, pub.ids())

	require.Eventually(t, func() bool {
		_, err := relay.Flush(ctx)
		return err == nil && hintCount(t, db) == 0
	}, 10*time.Second, 10*time.Millisecond, "the hint of the write that never came is deleted")
	assert.GreaterOrEqual(t, time.Since(marked), grace, "not before its grace")
	assert.Equal(t, []string{late.ID}, pub.ids(), "nothing else was published")
}

func TestTheBackstopFindsEventsWithoutAHint(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	ev := unhinted(t, coll, "old")
	write(t, coll, "hinted", pending(t, "hinted", "x", 1))
	_, err := coll.InsertOne(ctx, bson.M{"_id": "quiet"})
	require.NoError(t, err)

	pub := &recorder{okUntil: -1}
	relay := outbox.NewRelay(pub, testenv.Logger(t), outbox.New(coll))
	n, err := relay.Backstop(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "one document had events and no hint")

	n, err = relay.Flush(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Contains(t, pub.ids(), ev.ID)
	assert.Empty(t, outboxOf(t, coll, "old"))
	assert.Zero(t, hintCount(t, db))

	n, err = relay.Backstop(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestRunRunsTheBackstopWhenItStarts(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("users")
	unhinted(t, coll, "old")

	pub := &recorder{okUntil: -1}
	relay := outbox.NewRelay(pub, testenv.Logger(t), outbox.New(coll))
	relayCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(relayCtx) }()
	t.Cleanup(func() { stop(); <-done })

	require.Eventually(t, func() bool { return len(pub.ids()) == 1 }, 10*time.Second, 20*time.Millisecond,
		"an event left without a hint (an upgrade) is published soon after start")
}
