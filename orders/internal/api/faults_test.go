package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/ordertest"
)

// ordersFor counts the real orders (not placeholders) for a ticket, read
// past the proxy.
func ordersFor(t *testing.T, e *ordertest.Env, ticketID string) int64 {
	t.Helper()
	n, err := e.Direct.Outbox().Collection().CountDocuments(context.Background(), bson.M{"ticket.id": ticketID, "orphan": bson.M{"$ne": true}})
	require.NoError(t, err)
	return n
}

// The database stores the order and the answer is lost on the way back.
// On main the hold was released at once, a second buyer got 201 too, and
// both orders could be paid and completed.
func TestALostInsertAnswerNeverSellsTheTicketTwice(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ticketID := e.ListTicket("seller", "Concert", 1000)

	e.Proxy.LoseAnswerOn("insert", "orders", 1)
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	require.Equal(t, 1, e.Proxy.Lost(), "the order's insert was stored and its answer lost")
	require.Equal(t, http.StatusCreated, res.Status, "decided by the order's id: it is stored: %s", res.Raw)
	var o orderBody
	res.Decode(t, &o)
	assert.Equal(t, "buyer", o.UserID)
	assert.Equal(t, o.ID, e.Replica(ticketID).OrderID, "the hold stays with the stored order")

	other := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("second-buyer")))
	assert.Equal(t, http.StatusConflict, other.Status, other.Raw)

	retry := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	require.Equal(t, http.StatusOK, retry.Status, "the buyer's retry gets their own order back: %s", retry.Raw)
	var again orderBody
	retry.Decode(t, &again)
	assert.Equal(t, o, again)
	assert.EqualValues(t, 1, ordersFor(t, e, ticketID), "one live order for the ticket, never two")
}

// The hold's own answer is lost: the ticket is held by an order id that will
// never be inserted, so Reserve releases it at once rather than leaving the
// ticket locked until the sweeper comes.
func TestALostHoldAnswerReleasesTheHold(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ticketID := e.ListTicket("seller", "Concert", 1000)

	e.Proxy.LoseAnswer("findAndModify", 1)
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	require.Equal(t, 1, e.Proxy.Lost())
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	assert.Empty(t, e.Replica(ticketID).OrderID, "nothing is held for an order that does not exist")
	assert.Zero(t, ordersFor(t, e, ticketID))

	reserve(t, e, e.User("buyer"), ticketID)
}

func TestReserveWhileTheDatabaseIsUnreachableAnswers503(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ticketID := e.ListTicket("seller", "Concert", 1000)

	e.Proxy.Cut()
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	assert.Equal(t, "Service temporarily unavailable", res.Message(t))
	assert.Empty(t, e.Replica(ticketID).OrderID)

	e.Proxy.Restore()
	require.Eventually(t, func() bool {
		res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
		return err == nil && res.Status == http.StatusCreated
	}, 30*time.Second, 100*time.Millisecond)
}

// The database goes away between the hold and the insert, so not even the
// placeholder can decide whether the order exists: 503, and the hold stays
// (never released under an order that may exist). It holds nothing for
// ever: the buyer's retry settles their own hold at once, as the sweeper
// would (store tests show the sweeper doing it).
func TestAnUndecidableReserveAnswers503AndTheRetrySettlesIt(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ticketID := e.ListTicket("seller", "Concert", 1000)

	e.BetweenHoldAndInsert(e.Proxy.Cut)
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	ghost := e.Replica(ticketID).OrderID
	require.NotEmpty(t, ghost, "the hold was placed before the cut, and stays")
	e.Store.WithClock(time.Now)
	e.Proxy.Restore()

	require.Eventually(t, func() bool {
		res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("second-buyer")))
		return err == nil && res.Status == http.StatusConflict
	}, 30*time.Second, 100*time.Millisecond, "another buyer cannot take a hold that may have an order")

	o := reserve(t, e, e.User("buyer"), ticketID)
	assert.NotEqual(t, ghost, o.ID)
	assert.Equal(t, o.ID, e.Replica(ticketID).OrderID)
	assert.EqualValues(t, 1, ordersFor(t, e, ticketID))
	_, err := e.Direct.Get(testenv.Context(t), ghost)
	assert.Error(t, err, "the undecided order can never appear now: its id holds a placeholder")
}

// The network hangs between the hold and the insert: the insert times out,
// and so does the attempt to decide it, so the buyer hears 503 and the hold
// stays. Then the network recovers and the insert, only slow, lands after
// all. The order is the buyer's: their retry gets it back, another buyer
// still gets 409, and there is one order for the ticket.
func TestAnInsertThatLandsAfterIts503IsTheBuyersOrder(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ticketID := e.ListTicket("seller", "Concert", 1000)

	e.Proxy.StallAt("insert", "orders")
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	e.Store.WithClock(time.Now)
	late := e.Replica(ticketID).OrderID
	require.NotEmpty(t, late)
	e.Proxy.Resume()
	require.Eventually(t, func() bool { return ordersFor(t, e, ticketID) == 1 }, 20*time.Second, 50*time.Millisecond,
		"the stalled insert reaches the database after all")

	require.Eventually(t, func() bool {
		res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("second-buyer")))
		return err == nil && res.Status == http.StatusConflict
	}, 30*time.Second, 100*time.Millisecond)
	retry := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
	require.Equal(t, http.StatusOK, retry.Status, retry.Raw)
	var o orderBody
	retry.Decode(t, &o)
	assert.Equal(t, late, o.ID)
	assert.Equal(t, "created", o.Status)
	assert.EqualValues(t, 1, ordersFor(t, e, ticketID))
}

// Bursts of buyers on several tickets while inserts and holds lose their
// answers here and there: whatever each buyer was told, no ticket ever has
// two live orders, a live order always holds its ticket, and after the
// sweeper's pass every hold belongs to a live order.
func TestNoDoubleSellWhileAnswersAreLost(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	const tickets, perTicket = 5, 10
	ids := make([]string, tickets)
	for i := range ids {
		ids[i] = e.ListTicket("seller", "Concert", 1000)
	}
	e.Proxy.LoseAnswerOn("insert", "orders", 3)
	e.Proxy.LoseAnswer("findAndModify", 3)
	var wg sync.WaitGroup
	results := make([]map[int]int, tickets)
	for i := range ids {
		wg.Go(func() { results[i], _ = burst(t, e, ids[i], buyers(e, fmt.Sprint("t", i), perTicket)) })
	}
	wg.Wait()
	t.Logf("answers lost: %d; statuses per ticket: %v", e.Proxy.Lost(), results)
	require.Positive(t, e.Proxy.Lost())

	_, err := e.Direct.Sweep(testenv.Context(t), 0)
	require.NoError(t, err)
	for i, ticketID := range ids {
		assert.LessOrEqual(t, results[i][http.StatusCreated], 1, "ticket %d", i)
		assert.Zero(t, results[i][http.StatusInternalServerError], "ticket %d", i)
		live := liveOrdersFor(t, e, ticketID)
		assert.LessOrEqual(t, len(live), 1, "ticket %d: never two live orders", i)
		holder := e.Replica(ticketID).OrderID
		if len(live) == 1 {
			assert.Equal(t, live[0], holder, "ticket %d: the live order holds it", i)
		} else {
			assert.Empty(t, holder, "ticket %d: no hold without a live order after the sweep", i)
		}
	}
}

func liveOrdersFor(t *testing.T, e *ordertest.Env, ticketID string) []string {
	t.Helper()
	cur, err := e.Direct.Outbox().Collection().Find(context.Background(), bson.M{"ticket.id": ticketID, "status": "created"})
	require.NoError(t, err)
	var docs []struct {
		ID primitive.ObjectID `bson:"_id"`
	}
	require.NoError(t, cur.All(context.Background(), &docs))
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID.Hex()
	}
	return out
}
