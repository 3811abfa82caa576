package store_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testenv"
	"ticketing.dev/tickets/internal/store"
	"ticketing.dev/tickets/internal/ticket"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Ten writers change one ticket at once: none of the changes is lost, each
// got its own version, and the events queue on the ticket in version order.
func TestConcurrentChangesAreAllKeptAndQueuedInVersionOrder(t *testing.T) {
	ctx := testenv.Context(t)
	tickets := store.New(testenv.NewDatabase(t))
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(t, tickets.Create(ctx, &tk))

	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, err := tickets.Update(ctx, tk.ID, func(t *ticket.Ticket) error {
				return t.Edit("seller", "Concert", money.Price(2000+i))
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, err := tickets.Get(ctx, tk.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(10), got.Version)

	oid, err := primitive.ObjectIDFromHex(tk.ID)
	require.NoError(t, err)
	var doc struct {
		Outbox []outbox.Pending `bson:"outbox"`
	}
	require.NoError(t, tickets.Outbox().Collection().FindOne(ctx, bson.M{"_id": oid}).Decode(&doc))
	require.Len(t, doc.Outbox, 11, "ticket:created and one ticket:updated per change")
	prices := map[money.Price]bool{}
	for i, p := range doc.Outbox {
		var env events.Envelope
		require.NoError(t, json.Unmarshal(p.Envelope, &env))
		var v struct {
			Version int64       `json:"version"`
			Price   money.Price `json:"price"`
		}
		require.NoError(t, json.Unmarshal(env.Data, &v))
		assert.Equal(t, int64(i), v.Version, "events queue in version order")
		prices[v.Price] = true
	}
	assert.Len(t, prices, 11, "every writer's price was published once")
}

func TestARepeatWritesNothing(t *testing.T) {
	ctx := testenv.Context(t)
	tickets := store.New(testenv.NewDatabase(t))
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(t, tickets.Create(ctx, &tk))
	for range 2 {
		got, err := tickets.Update(ctx, tk.ID, func(t *ticket.Ticket) error { return t.Reserve("a") })
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.Version)
	}
	oid, _ := primitive.ObjectIDFromHex(tk.ID)
	var doc struct {
		Outbox []outbox.Pending `bson:"outbox"`
	}
	require.NoError(t, tickets.Outbox().Collection().FindOne(ctx, bson.M{"_id": oid}).Decode(&doc))
	assert.Len(t, doc.Outbox, 2)
}

func TestUnknownAndMalformedIDsAreNotFound(t *testing.T) {
	ctx := testenv.Context(t)
	tickets := store.New(testenv.NewDatabase(t))
	for _, id := range []string{"5f1e0000c0ffee0000c0ffee", "nope"} {
		_, err := tickets.Get(ctx, id)
		assert.ErrorIs(t, err, ticket.ErrNotFound)
		_, err = tickets.Update(ctx, id, func(*ticket.Ticket) error { return nil })
		assert.ErrorIs(t, err, ticket.ErrNotFound)
	}
}

// A restarted service ensures its indexes on a database that has them.
func TestIndexesCanBeEnsuredAgain(t *testing.T) {
	tickets := store.New(testenv.NewDatabase(t))
	require.NoError(t, tickets.EnsureIndexes(testenv.Context(t)))
	require.NoError(t, tickets.EnsureIndexes(testenv.Context(t)))
}
