package store_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func reserve(t *testing.T, e *ordertest.Env, buyer, ticketID string) string {
	t.Helper()
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User(buyer)))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	return res.Object(t)["id"].(string)
}

// leaveHold puts a hold by orderID on a ticket as a reservation that died
// before inserting its order would have: the replica's only trace of it.
func leaveHold(t *testing.T, e *ordertest.Env, ticketID, orderID string, heldAt time.Time) {
	t.Helper()
	id, _ := mongox.ParseID(ticketID)
	res, err := e.Store.Tickets().UpdateOne(context.Background(), bson.M{"_id": id, "orderId": ""},
		bson.M{"$set": bson.M{"orderId": orderID, "heldAt": heldAt}})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.ModifiedCount)
}

func TestSweepReleasesAHoldWhoseOrderWasNeverInserted(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()
	ticketID := e.ListTicket("seller", "Concert", 1000)
	orphan := primitive.NewObjectID()
	leaveHold(t, e, ticketID, orphan.Hex(), time.Now().Add(-2*time.Minute))

	n, err := e.Store.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, e.Replica(ticketID).OrderID, "the ticket is for sale again")

	// The order's insert, had it been only slow, can never land now: the
	// placeholder holds its id, so nobody can end up with an order for a
	// ticket someone else then reserves.
	_, err = e.Store.Outbox().Collection().InsertOne(ctx, bson.M{"_id": orphan, "userId": "buyer", "status": "created"})
	assert.True(t, mongo.IsDuplicateKeyError(err), "got %v", err)
	_, err = e.Store.Get(ctx, orphan.Hex())
	assert.ErrorIs(t, err, order.ErrNotFound, "nobody sees the placeholder")

	reserve(t, e, "buyer", ticketID)
}

func TestSweepSettlesHoldsByTheirOrdersState(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()

	live := e.ListTicket("seller", "Live", 1000)
	liveOrder := reserve(t, e, "buyer", live)

	// Cancelled, but the process died before releasing the hold.
	cancelled := e.ListTicket("seller", "Cancelled", 1000)
	cancelledOrder := reserve(t, e, "buyer", cancelled)
	_, err := e.Store.Update(ctx, cancelledOrder, func(o *order.Order) error { return o.Cancel() })
	require.NoError(t, err)
	require.Equal(t, cancelledOrder, e.Replica(cancelled).OrderID)

	// Completed, but the process died before marking the ticket sold.
	paid := e.ListTicket("seller", "Paid", 1000)
	paidOrder := reserve(t, e, "buyer", paid)
	_, err = e.Store.Update(ctx, paidOrder, func(o *order.Order) error { return o.Complete("payment-1") })
	require.NoError(t, err)
	require.False(t, e.Replica(paid).Sold)

	n, err := e.Store.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the cancelled order's hold and the paid one's")

	assert.Equal(t, liveOrder, e.Replica(live).OrderID, "a live reservation keeps its hold")
	assert.Equal(t, events.StatusCreated, e.Order(liveOrder).Status)
	assert.Empty(t, e.Replica(cancelled).OrderID)
	assert.True(t, e.Replica(paid).Sold)
	assert.Equal(t, paidOrder, e.Replica(paid).OrderID)
}

func TestSweepLeavesYoungHoldsAlone(t *testing.T) {
	e := ordertest.New(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	holder := primitive.NewObjectID().Hex()
	leaveHold(t, e, ticketID, holder, time.Now())

	n, err := e.Store.Sweep(context.Background(), time.Minute)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, holder, e.Replica(ticketID).OrderID)
	count, err := e.Store.Outbox().Collection().CountDocuments(context.Background(), bson.M{})
	require.NoError(t, err)
	assert.Zero(t, count, "no placeholder for an order that may still arrive")
}

// If the order cannot be inserted after the hold was placed, the hold is
// released at once. The failure here is real: a unique index the test adds
// makes the database refuse a second order for the same ticket.
func TestAFailedOrderInsertReleasesTheHold(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()
	ticketID := e.ListTicket("seller", "Concert", 1000)
	_, err := e.Store.Outbox().Collection().Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "ticket.id", Value: 1}}, Options: options.Index().SetUnique(true),
	})
	require.NoError(t, err)
	_, err = e.Store.Outbox().Collection().InsertOne(ctx, bson.M{"_id": primitive.NewObjectID(), "ticket": bson.M{"id": ticketID}, "orphan": true})
	require.NoError(t, err)

	_, _, err = e.Store.Reserve(ctx, "buyer", ticketID, time.Minute)
	require.Error(t, err)
	assert.Empty(t, e.Replica(ticketID).OrderID, "the hold went with the failed order")
}

// A restarted service ensures its indexes on a database that has them.
func TestIndexesCanBeEnsuredAgain(t *testing.T) {
	e := ordertest.New(t)
	require.NoError(t, e.Store.EnsureIndexes(context.Background()))
}
