package outbox_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

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
	p, err := outbox.NewPending(events.TicketUpdated{ID: ticket, Version: version, Title: title, Price: 1000, UserID: "u1"})
	require.NoError(t, err)
	return p
}

func TestRelayPublishesInOrderAndEmptiesTheOutbox(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	client := testenv.NewBus(t, testenv.NATSURL(t))
	ticket := testenv.RandomName("t")
	got := &collector{ticket: ticket}
	queue := testenv.RandomName("q")
	require.NoError(t, client.Subscribe(bus.Subscription{Subject: events.SubjectTicketUpdated, Queue: queue, Handler: got.handle}))

	_, err := coll.InsertOne(ctx, bson.M{"_id": ticket, "title": "a", outbox.Field: []outbox.Pending{pending(t, ticket, "a", 1)}})
	require.NoError(t, err)
	_, err = coll.UpdateOne(ctx, bson.M{"_id": ticket}, bson.D{{Key: "$set", Value: bson.M{"title": "b"}}, outbox.Push(pending(t, ticket, "b", 2), pending(t, ticket, "c", 3))})
	require.NoError(t, err)

	relay := outbox.NewRelay(client, testenv.Logger(t), coll)
	n, err := relay.Flush(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	require.Eventually(t, func() bool { return len(got.titles(t)) == 3 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"a", "b", "c"}, got.titles(t))

	var doc bson.M
	require.NoError(t, coll.FindOne(ctx, bson.M{"_id": ticket}).Decode(&doc))
	assert.Empty(t, doc[outbox.Field], "published events are removed from the document")
	assert.Equal(t, "b", doc["title"], "the relay touches only the outbox")

	n, err = relay.Flush(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is published twice by one relay")
}

func TestRelayPublishesWhatWasWrittenWhileTheBrokerWasDown(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	coll := db.Collection("tickets")
	nats := testenv.NewNATS(t)
	publisher := testenv.NewBus(t, nats.URL)
	relay := outbox.NewRelay(publisher, testenv.Logger(t), coll).WithInterval(100 * time.Millisecond)
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = relay.Run(relayCtx) }()
	t.Cleanup(func() { stopRelay(); <-relayDone })

	nats.Stop(t)
	_, err := coll.InsertOne(ctx, bson.M{"_id": "t1", outbox.Field: []outbox.Pending{pending(t, "t1", "written during outage", 1)}})
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
	subscriber := testenv.NewBus(t, nats.URL)
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
