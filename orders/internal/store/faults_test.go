package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/ordertest"
)

// The database goes away between the hold and the insert: Reserve cannot
// tell whether the order exists, so it leaves the hold (503 to the buyer).
// Nothing stays held for ever: the sweeper settles it by the order's id.
func TestTheSweeperSettlesAReserveTheDatabaseCouldNotDecide(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ctx := testenv.Context(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)

	e.BetweenHoldAndInsert(e.Proxy.Cut)
	_, _, err := e.Store.Reserve(ctx, "buyer", ticketID, time.Minute)
	require.Error(t, err)
	assert.True(t, mongox.IsUnavailable(err), "an outage, answered 503: %v", err)
	ghost := e.Replica(ticketID).OrderID
	require.NotEmpty(t, ghost, "the undecided hold stays")

	n, err := e.Direct.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, e.Replica(ticketID).OrderID, "for sale again")

	e.Store.WithClock(time.Now)
	e.Proxy.Restore()
	require.Eventually(t, func() bool {
		res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("second-buyer")))
		return err == nil && res.Status == http.StatusCreated
	}, 30*time.Second, 100*time.Millisecond)
}

// leaveOrderWithoutItsHold reproduces what main's Reserve did after an
// ambiguous insert: the order stored, its hold released, the ticket then
// reserved by another buyer.
func leaveOrderWithoutItsHold(t *testing.T, e *ordertest.Env, ticketID string) (lost, holder string) {
	t.Helper()
	lost = reserve(t, e, "buyer-a", ticketID)
	id, _ := mongox.ParseID(ticketID)
	_, err := e.Direct.Tickets().UpdateOne(context.Background(), bson.M{"_id": id},
		bson.M{"$set": bson.M{"orderId": "", "heldAt": nil}})
	require.NoError(t, err)
	return lost, reserve(t, e, "buyer-b", ticketID)
}

// A payment for an order that no longer holds its ticket must not complete
// it: the ticket is someone else's. On main it completed, and marking the
// ticket sold silently matched nothing.
func TestAPaymentForAnOrderThatLostItsHoldCancelsItForARefund(t *testing.T) {
	e := ordertest.New(t)
	published := testenv.Record(t, e.Bus, events.SubjectOrderCancelled, events.SubjectOrderCompleted)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	lost, holder := leaveOrderWithoutItsHold(t, e, ticketID)

	require.NoError(t, e.Handle(events.PaymentCreated{ID: "payment-a", OrderID: lost, StripeID: "pi_a"}),
		"acked: payments refunds on order:cancelled")
	assert.Equal(t, events.StatusCancelled, e.Order(lost).Status)
	assert.Equal(t, holder, e.Replica(ticketID).OrderID, "the holder keeps the ticket")
	assert.False(t, e.Replica(ticketID).Sold)
	require.Eventually(t, func() bool { _, ok := ordertest.Find(published, events.SubjectOrderCancelled, lost); return ok },
		10*time.Second, 20*time.Millisecond, "order:cancelled tells payments to refund")
	_, completed := ordertest.Find(published, events.SubjectOrderCompleted, lost)
	assert.False(t, completed)

	// A repeat of the payment changes nothing, and the holder can still pay.
	require.NoError(t, e.Handle(events.PaymentCreated{ID: "payment-a", OrderID: lost, StripeID: "pi_a"}))
	_, err := e.Store.Complete(context.Background(), holder, "payment-b")
	require.NoError(t, err)
	assert.True(t, e.Replica(ticketID).Sold)
	assert.Equal(t, holder, e.Replica(ticketID).OrderID)
	assert.Equal(t, events.StatusCancelled, e.Order(lost).Status)
}

func TestCompleteIsRefusedForACancelledOrderWhoseHoldWasNotYetReleased(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()
	ticketID := e.ListTicket("seller", "Concert", 1000)
	id := reserve(t, e, "buyer", ticketID)
	// Cancelled; the process died before releasing the hold.
	_, err := e.Store.Update(ctx, id, func(o *order.Order) error { return o.Cancel() })
	require.NoError(t, err)

	_, err = e.Store.Complete(ctx, id, "payment-1")
	assert.ErrorIs(t, err, order.ErrCancelled)
	assert.False(t, e.Replica(ticketID).Sold, "a cancelled order's hold never sells the ticket")
}

// The backstop for a lost expiration job: an overdue order is cancelled as
// expiration:complete would cancel it, a paid or young one is left alone.
func TestLapseCancelsOverdueOrdersOnly(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()
	published := testenv.Record(t, e.Bus, events.SubjectOrderCancelled)

	overdueTicket := e.ListTicket("seller", "Overdue", 1000)
	overdue, _, err := e.Store.Reserve(ctx, "buyer", overdueTicket, time.Second)
	require.NoError(t, err)
	paidTicket := e.ListTicket("seller", "Paid", 1000)
	paid, _, err := e.Store.Reserve(ctx, "buyer", paidTicket, time.Second)
	require.NoError(t, err)
	_, err = e.Store.Complete(ctx, paid.ID, "payment-1")
	require.NoError(t, err)
	youngTicket := e.ListTicket("seller", "Young", 1000)
	young, _, err := e.Store.Reserve(ctx, "buyer", youngTicket, time.Hour)
	require.NoError(t, err)

	e.Store.WithClock(func() time.Time { return time.Now().Add(time.Minute) })
	n, err := e.Store.Lapse(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	lapsed := e.Order(overdue.ID)
	assert.Equal(t, events.StatusCancelled, lapsed.Status)
	assert.Equal(t, int64(1), lapsed.Version)
	assert.Empty(t, e.Replica(overdueTicket).OrderID, "the ticket is for sale again")
	require.Eventually(t, func() bool { _, ok := ordertest.Find(published, events.SubjectOrderCancelled, overdue.ID); return ok },
		10*time.Second, 20*time.Millisecond)
	env, _ := ordertest.Find(published, events.SubjectOrderCancelled, overdue.ID)
	p, err := events.Decode[events.OrderCancelled](env)
	require.NoError(t, err)
	assert.Equal(t, events.OrderCancelled{ID: overdue.ID, Version: 1, Ticket: events.TicketRef{ID: overdueTicket}}, p)

	assert.Equal(t, events.StatusComplete, e.Order(paid.ID).Status, "a paid order never lapses")
	assert.True(t, e.Replica(paidTicket).Sold)
	assert.Equal(t, events.StatusCreated, e.Order(young.ID).Status)
	assert.Equal(t, young.ID, e.Replica(youngTicket).OrderID)

	// expiration:complete arriving after the lapse changes nothing.
	require.NoError(t, e.Handle(events.ExpirationComplete{OrderID: overdue.ID}))
	assert.Equal(t, int64(1), e.Order(overdue.ID).Version)
	n, err = e.Store.Lapse(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// Redis lost every expiration job (or expiration never ran): 20 open orders
// still lapse, each within one check interval (and the pass's own time) of
// its window. No expiration service runs here at all; the lateness is
// printed, not asserted (BenchmarkLapseLateness reports it).
func TestEveryOpenOrderLapsesWithoutExpiration(t *testing.T) {
	const window, interval = 2 * time.Second, 500 * time.Millisecond
	e := ordertest.New(t, ordertest.WithWindow(window), ordertest.Lapsing(interval), ordertest.Uncapped())
	lateness := lapseOpenOrders(t, e, 20)
	t.Logf("20 orders, window %v, check interval %v: lateness beyond the window min %v, median %v, max %v (polled every 20ms)",
		window, interval, lateness[0].Round(time.Millisecond), lateness[len(lateness)/2].Round(time.Millisecond),
		lateness[len(lateness)-1].Round(time.Millisecond))
}

// BenchmarkLapseLateness: rounds of 20 orders with a 1 s window lapsing with
// no expiration service, checked every 500 ms; reports how late beyond the
// window they lapsed (cancelled and the ticket free).
//
// Run: PATH=$PWD/bin:$PATH go test -run '^$' -bench LapseLateness -benchtime 3x ./orders/internal/store/
func BenchmarkLapseLateness(b *testing.B) {
	e := ordertest.New(b, ordertest.Quiet(), ordertest.WithWindow(time.Second), ordertest.Lapsing(500*time.Millisecond), ordertest.Uncapped())
	var all []time.Duration
	for range b.N {
		all = append(all, lapseOpenOrders(b, e, 20)...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Milliseconds()), "p50-late-ms")
	b.ReportMetric(float64(all[len(all)-1].Milliseconds()), "max-late-ms")
}

// lapseOpenOrders opens n orders on n tickets and waits until every one has
// lapsed: cancelled, order:cancelled published, the ticket for sale again.
// It returns how late beyond its expiresAt each was seen lapsed, sorted.
func lapseOpenOrders(tb testing.TB, e *ordertest.Env, n int) []time.Duration {
	tb.Helper()
	published := testenv.Record(tb, e.Bus, events.SubjectOrderCancelled)
	tickets := make([]string, n)
	orders := make([]order.Order, n)
	var wg sync.WaitGroup
	for i := range n {
		tickets[i] = e.ListTicket("seller", "Concert", 1000)
		wg.Go(func() {
			res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": tickets[i]}, apitest.As(e.User("buyer")))
			if assert.Equal(tb, http.StatusCreated, res.Status, res.Raw) {
				orders[i] = e.Order(res.Object(tb)["id"].(string))
			}
		})
	}
	wg.Wait()
	require.False(tb, tb.Failed())

	lateness := make([]time.Duration, n)
	seen := make([]bool, n)
	require.Eventually(tb, func() bool {
		all := true
		for i, o := range orders {
			if seen[i] {
				continue
			}
			if e.Replica(tickets[i]).OrderID == "" {
				seen[i], lateness[i] = true, time.Since(o.ExpiresAt)
				continue
			}
			all = false
		}
		return all
	}, e.Window+time.Minute, 20*time.Millisecond, "every order lapses")
	for _, o := range orders {
		assert.Equal(tb, events.StatusCancelled, e.Order(o.ID).Status)
		require.Eventually(tb, func() bool { _, ok := ordertest.Find(published, events.SubjectOrderCancelled, o.ID); return ok },
			10*time.Second, 20*time.Millisecond)
	}
	slices.Sort(lateness)
	return lateness
}

// A live hold is read once, then left alone until its order should have
// expired: the sweeper does not re-read every live order on every pass.
func TestTheSweeperReadsALiveHoldOnceUntilItsOrderExpires(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()
	ticketID := e.ListTicket("seller", "Concert", 1000)
	id := reserve(t, e, "buyer", ticketID)
	tid, _ := mongox.ParseID(ticketID)
	_, err := e.Store.Tickets().UpdateOne(ctx, bson.M{"_id": tid}, bson.M{"$set": bson.M{"heldAt": time.Now().Add(-2 * time.Minute)}})
	require.NoError(t, err)

	n, err := e.Store.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, n)
	var hold struct {
		HeldAt time.Time `bson:"heldAt"`
	}
	require.NoError(t, e.Store.Tickets().FindOne(ctx, bson.M{"_id": tid}).Decode(&hold))
	assert.True(t, hold.HeldAt.Equal(e.Order(id).ExpiresAt), "next look when the order expires: %v", hold.HeldAt)

	// Were the order read again, its disappearance would be settled now.
	oid, _ := mongox.ParseID(id)
	_, err = e.Store.Outbox().Collection().DeleteOne(ctx, bson.M{"_id": oid})
	require.NoError(t, err)
	n, err = e.Store.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, id, e.Replica(ticketID).OrderID, "not looked at before its order's expiry")

	e.Store.WithClock(func() time.Time { return time.Now().Add(ordertest.Window + 2*time.Minute) })
	n, err = e.Store.Sweep(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "looked at again once its order should have expired")
	assert.Empty(t, e.Replica(ticketID).OrderID)
}

// A buyer asks again for the ticket their order holds while they cancel that
// order (a retry after a lost answer, racing a click on Cancel). Whichever
// wins, the retry answers the order while it is open, a new order once it is
// cancelled, or a refusal while the cancellation still holds the ticket —
// never the cancelled order, which the buyer would take for a live hold.
func TestARetryRacingTheBuyersOwnCancellationNeverAnswersACancelledOrder(t *testing.T) {
	e := ordertest.New(t, ordertest.Quiet())
	ctx := testenv.Context(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	live, _, err := e.Store.Reserve(ctx, "buyer", ticketID, time.Minute)
	require.NoError(t, err)
	answers := map[string]int{}
	for range 60 {
		var (
			wg       sync.WaitGroup
			retry    order.Order
			fresh    bool
			retryErr error
		)
		wg.Go(func() { retry, fresh, retryErr = e.Store.Reserve(ctx, "buyer", ticketID, time.Minute) })
		wg.Go(func() {
			_, err := e.Store.Cancel(ctx, live.ID, func(order.Order) error { return nil })
			assert.NoError(t, err)
		})
		wg.Wait()
		switch {
		case retryErr != nil:
			require.ErrorIs(t, retryErr, order.ErrTicketReserved)
			answers["refused"]++
			live, _, err = e.Store.Reserve(ctx, "buyer", ticketID, time.Minute)
			require.NoError(t, err, "the cancellation done, the ticket is for sale again")
		case fresh:
			answers["new order"]++
			live = retry
		default:
			answers["the open order"]++
			require.Equal(t, live.ID, retry.ID)
			require.Equal(t, events.StatusCreated, retry.Status, "the retry answered the order cancelled under it")
			_, err := e.Store.Cancel(ctx, live.ID, func(order.Order) error { return nil })
			require.NoError(t, err)
			live, _, err = e.Store.Reserve(ctx, "buyer", ticketID, time.Minute)
			require.NoError(t, err)
		}
		require.Equal(t, events.StatusCreated, e.Order(live.ID).Status, "the answer is an open order: %+v", live)
		require.Equal(t, live.ID, e.Replica(ticketID).OrderID, "and it holds the ticket")
	}
	t.Logf("60 retries racing a cancellation answered: %v", answers)
}

// Twenty buyers ask for one ticket at once. They take turns, so each one
// behind the winner finds its hold placed and is refused by the early read:
// none of them takes an open-order slot (a write, and another to free it).
func TestBuyersBehindTheWinnerAreRefusedWithoutAWrite(t *testing.T) {
	e := ordertest.New(t, ordertest.Quiet())
	ctx := testenv.Context(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		won, refused int
	)
	for i := range 20 {
		wg.Go(func() {
			_, _, err := e.Store.Reserve(ctx, fmt.Sprint("buyer-", i), ticketID, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, order.ErrTicketReserved):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, won)
	assert.Equal(t, 19, refused)
	slots, err := e.Store.Tickets().Database().Collection("buyers").CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, slots, "only the winner took an open-order slot")
}
