package systemtest_test

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
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/systemtest/harness"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	wait = 20 * time.Second
	tick = 50 * time.Millisecond
)

type ticketBody struct {
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Price    float64 `json:"price"`
	Version  int64   `json:"version"`
	Reserved bool    `json:"reserved"`
	Sold     bool    `json:"sold"`
}

type orderBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Ticket struct {
		ID    string  `json:"id"`
		Price float64 `json:"price"`
	} `json:"ticket"`
	Version int64 `json:"version"`
}

// market is tickets and orders running together.
type market struct {
	t       *testing.T
	sys     *harness.System
	tickets *harness.Service
	orders  *harness.Service
}

func newMarket(t *testing.T) *market {
	sys := harness.New(t)
	return &market{
		t:       t,
		sys:     sys,
		tickets: sys.Start("tickets", nil),
		orders:  sys.Start("orders", harness.Env{"ORDER_EXPIRATION_WINDOW": "1m"}),
	}
}

func (m *market) list(seller, title string, price float64) ticketBody {
	m.t.Helper()
	res := m.tickets.API.Do("POST", "/api/tickets", map[string]any{"title": title, "price": price}, apitest.As(seller))
	require.Equal(m.t, http.StatusCreated, res.Status, res.Raw)
	var tk ticketBody
	res.Decode(m.t, &tk)
	return tk
}

func (m *market) ticket(id string) ticketBody {
	m.t.Helper()
	res := m.tickets.API.Do("GET", "/api/tickets/"+id, nil)
	require.Equal(m.t, http.StatusOK, res.Status, res.Raw)
	var tk ticketBody
	res.Decode(m.t, &tk)
	return tk
}

func (m *market) order(buyer, id string) orderBody {
	m.t.Helper()
	res := m.orders.API.Do("GET", "/api/orders/"+id, nil, apitest.As(buyer))
	require.Equal(m.t, http.StatusOK, res.Status, res.Raw)
	var o orderBody
	res.Decode(m.t, &o)
	return o
}

// reserve buys a ticket as soon as orders knows it (its replica learns of new
// tickets from events, a moment after tickets answered 201). It waits on the
// replica itself, not by asking again and again: orders limits how often one
// buyer may reserve, as it would limit a bot.
func (m *market) reserve(buyer, ticketID string) orderBody {
	m.t.Helper()
	require.Eventually(m.t, func() bool { return m.replicaVersion(ticketID) >= 0 }, wait, tick,
		"orders never learned of ticket %s", ticketID)
	res := m.orders.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(buyer))
	require.Equal(m.t, http.StatusCreated, res.Status, res.Raw)
	var o orderBody
	res.Decode(m.t, &o)
	return o
}

// replicaVersion is the version of a ticket in orders' replica, -1 if absent.
func (m *market) replicaVersion(ticketID string) int64 {
	id, err := primitive.ObjectIDFromHex(ticketID)
	require.NoError(m.t, err)
	var doc struct {
		Version int64 `bson:"version"`
	}
	if err := m.orders.DB.Collection("tickets").FindOne(context.Background(), bson.M{"_id": id}).Decode(&doc); err != nil {
		return -1
	}
	return doc.Version
}

func (m *market) publish(p events.Payload, b *bus.Client) {
	m.t.Helper()
	env, err := events.New(p)
	require.NoError(m.t, err)
	require.NoError(m.t, b.Publish(testenv.Context(m.t), env))
}

// A ticket's life across both services: reserved, locked for its seller,
// released by a cancellation, repriced, sold through a payment; another one
// released by an expiration. Expiration and payments are played by the test
// with their events.
func TestReserveLockReleaseRepriceAndSell(t *testing.T) {
	m := newMarket(t)
	seller, alice, bob := m.sys.Session("seller"), m.sys.Session("alice"), m.sys.Session("bob")
	others := m.sys.Bus()

	tk := m.list(seller, "Concert", 20)
	first := m.reserve(alice, tk.ID)
	assert.Equal(t, 20.0, first.Ticket.Price)

	// tickets learns of the reservation and locks the ticket for its seller.
	require.Eventually(t, func() bool { return m.ticket(tk.ID).Reserved }, wait, tick)
	res := m.tickets.API.Do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "Concert", "price": 25}, apitest.As(seller))
	assert.Equal(t, http.StatusConflict, res.Status, res.Raw)
	res = m.tickets.API.Do("GET", "/api/tickets", nil)
	assert.NotContains(t, res.Raw, tk.ID, "a reserved ticket is not for sale")

	// Alice cancels: the ticket is for sale again, and its seller reprices it.
	require.Equal(t, http.StatusNoContent, m.orders.API.Do("DELETE", "/api/orders/"+first.ID, nil, apitest.As(alice)).Status)
	require.Eventually(t, func() bool { return !m.ticket(tk.ID).Reserved }, wait, tick)
	res = m.tickets.API.Do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "Concert", "price": 25}, apitest.As(seller))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	repriced := m.ticket(tk.ID)
	require.Eventually(t, func() bool { return m.replicaVersion(tk.ID) == repriced.Version }, wait, tick)

	// Bob buys at the new price and pays.
	second := m.reserve(bob, tk.ID)
	assert.Equal(t, 25.0, second.Ticket.Price)
	m.publish(events.PaymentCreated{ID: "payment-1", OrderID: second.ID, StripeID: "ch_1"}, others)
	require.Eventually(t, func() bool { return m.order(bob, second.ID).Status == "complete" }, wait, tick)
	require.Eventually(t, func() bool { return m.ticket(tk.ID).Sold }, wait, tick)
	res = m.orders.API.Do("DELETE", "/api/orders/"+second.ID, nil, apitest.As(bob))
	assert.Equal(t, http.StatusConflict, res.Status, "a paid order cannot be cancelled")
	res = m.orders.API.Do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, apitest.As(alice))
	assert.Equal(t, http.StatusConflict, res.Status, "a sold ticket cannot be reserved")
	assert.Equal(t, "cancelled", m.order(alice, first.ID).Status)

	// Another ticket's reservation expires.
	other := m.list(seller, "Theatre", 30)
	held := m.reserve(alice, other.ID)
	require.Eventually(t, func() bool { return m.ticket(other.ID).Reserved }, wait, tick)
	m.publish(events.ExpirationComplete{OrderID: held.ID}, others)
	require.Eventually(t, func() bool { return m.order(alice, held.ID).Status == "cancelled" }, wait, tick)
	require.Eventually(t, func() bool { return !m.ticket(other.ID).Reserved }, wait, tick)
	m.reserve(bob, other.ID)
}

// Sessions from the real auth service work in the other services: one key,
// one cookie.
func TestASessionFromAuthWorksEverywhere(t *testing.T) {
	m := newMarket(t)
	auth := m.sys.Start("auth", nil)
	res := auth.API.Do("POST", "/api/users/signup", map[string]string{"email": "seller@example.com", "password": "correct horse"})
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	var cookie string
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == "session" {
			cookie = c.Value
		}
	}
	require.NotEmpty(t, cookie)
	tk := m.list(cookie, "Concert", 20)
	assert.Equal(t, res.Object(t)["id"], m.ticketOwner(tk.ID))
	res = m.orders.API.Do("GET", "/api/orders", nil, apitest.As(cookie))
	assert.Equal(t, http.StatusOK, res.Status)
}

func (m *market) ticketOwner(id string) string {
	res := m.tickets.API.Do("GET", "/api/tickets/"+id, nil)
	return res.Object(m.t)["userId"].(string)
}

func TestFiftyBuyersOneTicketOneWinner(t *testing.T) {
	m := newMarket(t)
	tk := m.list(m.sys.Session("seller"), "Concert", 20)
	require.Eventually(t, func() bool { return m.replicaVersion(tk.ID) == 0 }, wait, tick)

	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range 50 {
		buyer := m.sys.Session(fmt.Sprint("buyer-", i))
		wg.Go(func() {
			<-gate
			res, err := m.orders.API.Try("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, apitest.As(buyer))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			statuses[res.Status]++
		})
	}
	close(gate)
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 49}, statuses)
	require.Eventually(t, func() bool { return m.ticket(tk.ID).Reserved }, wait, tick)
}

// With the broker down, sellers keep listing and changing tickets; when it
// returns, orders' replica catches up with every change, in order.
func TestNothingIsLostWhileTheBrokerIsDown(t *testing.T) {
	m := newMarket(t)
	seller := m.sys.Session("seller")
	known := m.list(seller, "Concert", 20)
	require.Eventually(t, func() bool { return m.replicaVersion(known.ID) == 0 }, wait, tick)

	m.sys.NATS.Stop(t)
	for price := 21; price <= 23; price++ {
		res := m.tickets.API.Do("PUT", "/api/tickets/"+known.ID, map[string]any{"title": "Concert", "price": price}, apitest.As(seller))
		require.Equal(t, http.StatusOK, res.Status, "a write never waits for the broker: %s", res.Raw)
	}
	fresh := m.list(seller, "Listed during the outage", 50)
	assert.Equal(t, int64(0), m.replicaVersion(known.ID), "nothing got through meanwhile")

	m.sys.NATS.Start(t)
	require.Eventually(t, func() bool {
		return m.replicaVersion(known.ID) == 3 && m.replicaVersion(fresh.ID) == 0
	}, 30*time.Second, tick)

	o := m.reserve(m.sys.Session("buyer"), known.ID)
	assert.Equal(t, 23.0, o.Ticket.Price, "the replica has the last price")
	assert.Equal(t, 50.0, m.reserve(m.sys.Session("buyer"), fresh.ID).Ticket.Price)
}

// A crashed orders process loses nothing: its durable subscriptions resume
// where they were, and a new process applies what happened meanwhile.
func TestOrdersCatchesUpAfterACrash(t *testing.T) {
	m := newMarket(t)
	seller := m.sys.Session("seller")
	tk := m.list(seller, "Concert", 20)
	require.Eventually(t, func() bool { return m.replicaVersion(tk.ID) == 0 }, wait, tick)

	m.orders.Kill()
	res := m.tickets.API.Do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "Concert", "price": 30}, apitest.As(seller))
	require.Equal(t, http.StatusOK, res.Status)
	later := m.list(seller, "Listed while orders was down", 40)

	m.orders.Start()
	o := m.reserve(m.sys.Session("buyer"), later.ID)
	assert.Equal(t, 40.0, o.Ticket.Price)
	require.Eventually(t, func() bool { return m.replicaVersion(tk.ID) == 1 }, wait, tick)
	assert.Equal(t, 30.0, m.reserve(m.sys.Session("buyer"), tk.ID).Ticket.Price)
}
