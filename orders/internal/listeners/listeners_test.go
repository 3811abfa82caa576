package listeners_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/listeners"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func updated(id string, version int64, title string, price money.Price) events.TicketUpdated {
	return events.TicketUpdated{ID: id, Version: version, Title: title, Price: price, UserID: "seller"}
}

func TestAnUpdateThatArrivesEarlyWaitsForTheOnesBeforeIt(t *testing.T) {
	e := ordertest.New(t)
	id := e.ListTicket("seller", "v0", 1000)

	err := e.Handle(updated(id, 2, "v2", 3000))
	require.ErrorIs(t, err, bus.ErrNotYet, "v2 is not acked while the replica is at v0")
	assert.Equal(t, int64(0), e.Replica(id).Version)
	assert.Equal(t, "v0", e.Replica(id).Title)

	require.NoError(t, e.Handle(updated(id, 1, "v1", 2000)))
	require.NoError(t, e.Handle(updated(id, 2, "v2", 3000)))
	r := e.Replica(id)
	assert.Equal(t, int64(2), r.Version)
	assert.Equal(t, "v2", r.Title)
	assert.Equal(t, money.Price(3000), r.Price)
}

func TestAnUpdateBeforeTheTicketIsKnownWaits(t *testing.T) {
	e := ordertest.New(t)
	err := e.Handle(updated("5f1e0000c0ffee0000c0ffee", 1, "v1", 1000))
	assert.ErrorIs(t, err, bus.ErrNotYet)
}

func TestRepeatsAndOldEventsAreAckedAndChangeNothing(t *testing.T) {
	e := ordertest.New(t)
	id := e.ListTicket("seller", "v0", 1000)
	v1 := testenv.Message(t, updated(id, 1, "v1", 2000))
	require.NoError(t, e.Deliver(v1))
	require.NoError(t, e.Deliver(v1), "a redelivery is acked")
	require.NoError(t, e.Handle(updated(id, 2, "v2", 3000)))

	require.NoError(t, e.Deliver(v1), "an event older than the replica is acked")
	require.NoError(t, e.Handle(events.TicketCreated{ID: id, Version: 0, Title: "v0", Price: 1000, UserID: "seller"}), "so is a repeated ticket:created")
	r := e.Replica(id)
	assert.Equal(t, int64(2), r.Version)
	assert.Equal(t, "v2", r.Title)
	assert.Equal(t, money.Price(3000), r.Price)
}

// Over a real broker: v2 is published before v1. The replica ends at v2 with
// v2's data, and the handler log shows v2 was refused (so not acked) until v1
// had been applied.
func TestEventOrderOverTheBroker(t *testing.T) {
	e := ordertest.New(t)
	nats := testenv.NewBroker(t)
	service := nats.NewBus(t)
	var mu sync.Mutex
	var log []string
	for _, s := range listeners.Subscriptions(e.Store, testenv.Logger(t)) {
		inner := s.Handler
		s.AckWait = time.Second // the least stan allows: a refused event comes back quickly
		s.Handler = func(ctx context.Context, m bus.Message) error {
			err := inner(ctx, m)
			if m.Subject == events.SubjectTicketUpdated {
				p, _ := events.Decode[events.TicketUpdated](m.Envelope)
				result := "applied"
				if err != nil {
					result = "refused"
				}
				mu.Lock()
				log = append(log, fmt.Sprintf("v%d %s", p.Version, result))
				mu.Unlock()
			}
			return err
		}
		require.NoError(t, service.Subscribe(s))
	}
	tickets := nats.NewBus(t)
	publish := func(p events.Payload) {
		env, err := events.New(p)
		require.NoError(t, err)
		require.NoError(t, tickets.Publish(testenv.Context(t), env))
	}
	id := "5f1e0000c0ffee0000c0ff01"
	publish(events.TicketCreated{ID: id, Version: 0, Title: "v0", Price: 1000, UserID: "seller"})
	require.Eventually(t, func() bool { _, err := e.Store.Ticket(context.Background(), id); return err == nil }, 10*time.Second, 20*time.Millisecond)

	publish(updated(id, 2, "v2", 3000))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(log) > 0
	}, 10*time.Second, 20*time.Millisecond)
	publish(updated(id, 1, "v1", 2000))

	require.Eventually(t, func() bool { return e.Replica(id).Version == 2 }, 15*time.Second, 20*time.Millisecond)
	r := e.Replica(id)
	assert.Equal(t, "v2", r.Title)
	assert.Equal(t, money.Price(3000), r.Price)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(log), 3)
	assert.Equal(t, "v2 refused", log[0])
	assert.Equal(t, "v2 applied", log[len(log)-1])
	assert.Contains(t, log, "v1 applied")
	assert.Less(t, indexOf(log, "v1 applied"), indexOf(log, "v2 applied"))
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func reserve(t *testing.T, e *ordertest.Env, buyer, ticketID string) string {
	t.Helper()
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User(buyer)))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	return res.Object(t)["id"].(string)
}

func TestExpirationCancelsAndReleasesUnlessComplete(t *testing.T) {
	e := ordertest.New(t)
	published := testenv.Record(t, e.Bus, events.SubjectOrderCancelled)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	orderID := reserve(t, e, "buyer", ticketID)

	expired := testenv.Message(t, events.ExpirationComplete{OrderID: orderID})
	require.NoError(t, e.Deliver(expired))
	o := e.Order(orderID)
	assert.Equal(t, events.StatusCancelled, o.Status)
	assert.Equal(t, int64(1), o.Version)
	assert.Empty(t, e.Replica(ticketID).OrderID, "the ticket is for sale again")
	reserve(t, e, "next-buyer", ticketID)

	require.NoError(t, e.Deliver(expired), "a redelivered expiration is acked")
	assert.Equal(t, int64(1), e.Order(orderID).Version, "and changes nothing")
	assert.NotEmpty(t, e.Replica(ticketID).OrderID, "nor releases the next buyer's hold")

	require.Eventually(t, func() bool { return len(ordertest.About(published, orderID)) == 1 }, 10*time.Second, 20*time.Millisecond)

	paid := reserve(t, e, "buyer", e.ListTicket("seller", "Paid", 1000))
	require.NoError(t, e.Handle(events.PaymentCreated{ID: "payment-1", OrderID: paid, StripeID: "ch_1"}))
	require.NoError(t, e.Handle(events.ExpirationComplete{OrderID: paid}), "an expiration after payment is acked")
	assert.Equal(t, events.StatusComplete, e.Order(paid).Status)

	err := e.Handle(events.ExpirationComplete{OrderID: "5f1e0000c0ffee0000c0ffee"})
	assert.ErrorIs(t, err, order.ErrNotFound, "an unknown order is a failure (retried, then parked), not a wait")
	assert.NotErrorIs(t, err, bus.ErrNotYet)
}

func TestPaymentCompletesTheOrderAndSellsTheTicket(t *testing.T) {
	e := ordertest.New(t)
	published := testenv.Record(t, e.Bus, events.SubjectOrderCompleted)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	orderID := reserve(t, e, "buyer", ticketID)

	payment := testenv.Message(t, events.PaymentCreated{ID: "payment-1", OrderID: orderID, StripeID: "ch_1"})
	require.NoError(t, e.Deliver(payment))
	require.NoError(t, e.Deliver(payment), "a redelivered payment is acked")
	o := e.Order(orderID)
	assert.Equal(t, events.StatusComplete, o.Status)
	assert.Equal(t, int64(1), o.Version)
	assert.Equal(t, "payment-1", o.PaymentID)
	assert.True(t, e.Replica(ticketID).Sold)

	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("late-buyer")))
	assert.Equal(t, http.StatusConflict, res.Status)
	assert.Equal(t, "Ticket is sold", res.Message(t))

	require.Eventually(t, func() bool { return len(ordertest.About(published, orderID)) == 1 }, 10*time.Second, 20*time.Millisecond)
	env, _ := ordertest.Find(published, events.SubjectOrderCompleted, orderID)
	p, err := events.Decode[events.OrderCompleted](env)
	require.NoError(t, err)
	assert.Equal(t, events.OrderCompleted{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: ticketID}}, p)
}

// Payments refunds a charge for a cancelled order; orders only keeps it
// cancelled, acks, and publishes nothing.
func TestALatePaymentLeavesTheOrderCancelled(t *testing.T) {
	e := ordertest.New(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	orderID := reserve(t, e, "buyer", ticketID)
	require.NoError(t, e.Handle(events.ExpirationComplete{OrderID: orderID}))
	next := reserve(t, e, "next-buyer", ticketID)

	require.NoError(t, e.Handle(events.PaymentCreated{ID: "payment-1", OrderID: orderID, StripeID: "ch_1"}))
	o := e.Order(orderID)
	assert.Equal(t, events.StatusCancelled, o.Status)
	assert.Equal(t, int64(1), o.Version, "no change, so no order:completed was queued (every event comes with a version)")
	assert.Empty(t, o.PaymentID)
	assert.Equal(t, next, e.Replica(ticketID).OrderID)
	assert.False(t, e.Replica(ticketID).Sold, "the late payer's ticket went to the next buyer")
}

// Payments learns of orders only from us: a payment for an order we do not
// have is a bug worth parking, not a message to wait on or to drop.
func TestAPaymentForAnUnknownOrderIsAFailureNotAWait(t *testing.T) {
	e := ordertest.New(t)
	err := e.Handle(events.PaymentCreated{ID: "payment-1", OrderID: "5f1e0000c0ffee0000c0ffee", StripeID: "ch_1"})
	assert.ErrorIs(t, err, order.ErrNotFound)
	assert.NotErrorIs(t, err, bus.ErrNotYet)
}
