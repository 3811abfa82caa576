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

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type orderBody struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Ticket    struct {
		ID    string  `json:"id"`
		Title string  `json:"title"`
		Price float64 `json:"price"`
	} `json:"ticket"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
}

type listBody struct {
	Orders []orderBody `json:"orders"`
	Next   *string     `json:"next"`
}

func reserve(t *testing.T, e *ordertest.Env, token, ticketID string) orderBody {
	t.Helper()
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(token))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	var o orderBody
	res.Decode(t, &o)
	return o
}

func TestReserveCreatesAnOrderAndPublishesOrderCreated(t *testing.T) {
	e := ordertest.New(t)
	published := testenv.Record(t, e.Bus, events.SubjectOrderCreated)
	ticketID := e.ListTicket("seller", "Concert", 2050)

	before := time.Now()
	o := reserve(t, e, e.User("buyer"), ticketID)
	assert.NotEmpty(t, o.ID)
	assert.Equal(t, "buyer", o.UserID)
	assert.Equal(t, "created", o.Status)
	assert.Equal(t, int64(0), o.Version)
	assert.Equal(t, ticketID, o.Ticket.ID)
	assert.Equal(t, "Concert", o.Ticket.Title)
	assert.Equal(t, 20.5, o.Ticket.Price)
	assert.WithinRange(t, o.ExpiresAt, before.Add(ordertest.Window).Add(-time.Second), time.Now().Add(ordertest.Window))
	assert.Equal(t, o.ID, e.Replica(ticketID).OrderID, "the replica holds the ticket for the order")

	require.Eventually(t, func() bool { _, ok := ordertest.Find(published, events.SubjectOrderCreated, o.ID); return ok }, 10*time.Second, 20*time.Millisecond)
	env, _ := ordertest.Find(published, events.SubjectOrderCreated, o.ID)
	p, err := events.Decode[events.OrderCreated](env)
	require.NoError(t, err)
	assert.Equal(t, events.OrderCreated{
		ID: o.ID, Version: 0, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: p.ExpiresAt,
		Ticket: events.OrderTicket{ID: ticketID, Price: 2050},
	}, p)
	assert.True(t, p.ExpiresAt.Equal(o.ExpiresAt))

	show := e.API.Do("GET", "/api/orders/"+o.ID, nil, apitest.As(e.User("buyer")))
	require.Equal(t, http.StatusOK, show.Status)
	var shown orderBody
	show.Decode(t, &shown)
	assert.Equal(t, o, shown)
}

func TestReserveContract(t *testing.T) {
	e := ordertest.New(t)
	free := e.ListTicket("seller", "Free", 1000)
	reserved := e.ListTicket("seller", "Reserved", 1000)
	reserve(t, e, e.User("first-buyer"), reserved)
	sold := e.ListTicket("seller", "Sold", 1000)
	soldOrder := reserve(t, e, e.User("first-buyer"), sold)
	_, err := e.Store.Complete(context.Background(), soldOrder.ID, "payment-1")
	require.NoError(t, err)

	cases := []struct {
		name    string
		token   string
		body    string
		status  int
		message string
		fields  []string
	}{
		{"missing ticketId", e.User("buyer"), `{}`, 400, "", []string{"ticketId"}},
		{"empty ticketId", e.User("buyer"), `{"ticketId":""}`, 400, "", []string{"ticketId"}},
		{"malformed ticketId", e.User("buyer"), `{"ticketId":"nope"}`, 400, "", []string{"ticketId"}},
		{"ticketId not a string", e.User("buyer"), `{"ticketId":42}`, 400, "", []string{"ticketId"}},
		{"unknown field", e.User("buyer"), `{"ticketId":"` + free + `","price":1}`, 400, "", []string{"price"}},
		{"malformed JSON", e.User("buyer"), `{"ticketId":`, 400, "", nil},
		{"unknown ticket", e.User("buyer"), `{"ticketId":"5f1e0000c0ffee0000c0ffee"}`, 404, "Ticket not found", nil},
		{"own ticket", e.User("seller"), `{"ticketId":"` + free + `"}`, 400, "You cannot buy your own ticket", nil},
		{"reserved ticket", e.User("buyer"), `{"ticketId":"` + reserved + `"}`, 409, "Ticket is reserved", nil},
		{"sold ticket", e.User("buyer"), `{"ticketId":"` + sold + `"}`, 409, "Ticket is sold", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.API.Do("POST", "/api/orders", tc.body, apitest.As(tc.token))
			require.Equal(t, tc.status, res.Status, res.Raw)
			if tc.message != "" {
				assert.Equal(t, tc.message, res.Message(t))
			}
			assert.Equal(t, tc.fields, res.Fields(t))
		})
	}
	assert.True(t, e.Replica(free).OrderID == "", "refused requests hold nothing")
}

func TestEveryRouteNeedsAValidSession(t *testing.T) {
	e := ordertest.New(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	o := reserve(t, e, e.User("buyer"), ticketID)
	other, err := session.NewManager("another-key-0123456789abcdef-0123456789", false)
	require.NoError(t, err)
	forged, err := other.Token(session.User{ID: "buyer", Email: "x@example.com"})
	require.NoError(t, err)
	for _, opts := range [][]apitest.Option{nil, {apitest.As("garbage")}, {apitest.As(forged)}} {
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/api/orders", `{"ticketId":"` + ticketID + `"}`},
			{"GET", "/api/orders", ""},
			{"GET", "/api/orders/" + o.ID, ""},
			{"GET", "/api/orders/nope", ""},
			{"DELETE", "/api/orders/" + o.ID, ""},
		} {
			res := e.API.Do(r.method, r.path, r.body, opts...)
			assert.Equal(t, http.StatusUnauthorized, res.Status, "%s %s", r.method, r.path)
			assert.Equal(t, "Not authorized", res.Message(t))
		}
	}
	assert.Equal(t, events.StatusCreated, e.Order(o.ID).Status)
}

func TestShowAndCancelBelongToTheBuyer(t *testing.T) {
	e := ordertest.New(t)
	o := reserve(t, e, e.User("buyer"), e.ListTicket("seller", "Concert", 1000))
	complete := reserve(t, e, e.User("buyer"), e.ListTicket("seller", "Paid", 1000))
	_, err := e.Store.Complete(context.Background(), complete.ID, "payment-1")
	require.NoError(t, err)

	cases := []struct {
		name    string
		method  string
		id      string
		token   string
		status  int
		message string
	}{
		{"show someone else's", "GET", o.ID, e.User("intruder"), 403, "This order belongs to someone else"},
		{"show unknown", "GET", "5f1e0000c0ffee0000c0ffee", e.User("buyer"), 404, "Order not found"},
		{"show malformed", "GET", "nope", e.User("buyer"), 404, "Order not found"},
		{"cancel someone else's", "DELETE", o.ID, e.User("intruder"), 403, "This order belongs to someone else"},
		{"cancel unknown", "DELETE", "5f1e0000c0ffee0000c0ffee", e.User("buyer"), 404, "Order not found"},
		{"cancel malformed", "DELETE", "123", e.User("buyer"), 404, "Order not found"},
		{"cancel complete", "DELETE", complete.ID, e.User("buyer"), 409, "Order is complete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.API.Do(tc.method, "/api/orders/"+tc.id, nil, apitest.As(tc.token))
			require.Equal(t, tc.status, res.Status, res.Raw)
			assert.Equal(t, tc.message, res.Message(t))
		})
	}
	assert.Equal(t, events.StatusCreated, e.Order(o.ID).Status, "refused cancellations changed nothing")
	assert.Equal(t, events.StatusComplete, e.Order(complete.ID).Status)
}

func TestCancelReleasesTheTicketAndPublishesOrderCancelled(t *testing.T) {
	e := ordertest.New(t)
	published := testenv.Record(t, e.Bus, events.SubjectOrderCreated, events.SubjectOrderCancelled)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	o := reserve(t, e, e.User("buyer"), ticketID)

	res := e.API.Do("DELETE", "/api/orders/"+o.ID, nil, apitest.As(e.User("buyer")))
	require.Equal(t, http.StatusNoContent, res.Status, res.Raw)
	assert.Empty(t, res.Raw)
	stored := e.Order(o.ID)
	assert.Equal(t, events.StatusCancelled, stored.Status)
	assert.Equal(t, int64(1), stored.Version)
	assert.Empty(t, e.Replica(ticketID).OrderID, "the ticket is for sale again")

	again := e.API.Do("DELETE", "/api/orders/"+o.ID, nil, apitest.As(e.User("buyer")))
	assert.Equal(t, http.StatusNoContent, again.Status, "cancelling twice is still cancelled")
	assert.Equal(t, int64(1), e.Order(o.ID).Version, "and changes nothing")

	reserve(t, e, e.User("next-buyer"), ticketID)

	require.Eventually(t, func() bool { return len(ordertest.About(published, o.ID)) == 2 }, 10*time.Second, 20*time.Millisecond)
	env, _ := ordertest.Find(published, events.SubjectOrderCancelled, o.ID)
	p, err := events.Decode[events.OrderCancelled](env)
	require.NoError(t, err)
	assert.Equal(t, events.OrderCancelled{ID: o.ID, Version: 1, Ticket: events.TicketRef{ID: ticketID}}, p)
}

func TestListShowsTheCallersOrdersNewestFirstInPages(t *testing.T) {
	e := ordertest.New(t)
	var mine []string
	for i := range 3 {
		mine = append([]string{reserve(t, e, e.User("buyer"), e.ListTicket("seller", fmt.Sprint("T", i), 1000)).ID}, mine...)
	}
	reserve(t, e, e.User("someone-else"), e.ListTicket("seller", "Theirs", 1000))

	var all listBody
	res := e.API.Do("GET", "/api/orders", nil, apitest.As(e.User("buyer")))
	require.Equal(t, http.StatusOK, res.Status)
	res.Decode(t, &all)
	assert.Equal(t, mine, ids(all.Orders))
	assert.Nil(t, all.Next)

	var first, second listBody
	e.API.Do("GET", "/api/orders?limit=2", nil, apitest.As(e.User("buyer"))).Decode(t, &first)
	require.NotNil(t, first.Next)
	e.API.Do("GET", "/api/orders?limit=2&after="+*first.Next, nil, apitest.As(e.User("buyer"))).Decode(t, &second)
	assert.Equal(t, mine, append(ids(first.Orders), ids(second.Orders)...))
	assert.Nil(t, second.Next)

	var none listBody
	e.API.Do("GET", "/api/orders", nil, apitest.As(e.User("new-user"))).Decode(t, &none)
	assert.Equal(t, []orderBody{}, none.Orders, "an empty page is an empty list, not null")

	for query, field := range map[string]string{"limit=0": "limit", "limit=500": "limit", "after=%25%25%25": "after", "after=abc": "after"} {
		res := e.API.Do("GET", "/api/orders?"+query, nil, apitest.As(e.User("buyer")))
		assert.Equal(t, http.StatusBadRequest, res.Status, query)
		assert.Equal(t, []string{field}, res.Fields(t), query)
	}
}

func ids(os []orderBody) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.ID
	}
	return out
}

// burst sends one POST /api/orders per token at once, all for ticketID, and
// returns how many answered each status, and the winning order's id.
func burst(t *testing.T, e *ordertest.Env, ticketID string, tokens []string) (map[int]int, string) {
	t.Helper()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		winner   string
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for _, token := range tokens {
		wg.Go(func() {
			<-start
			res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(token))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			statuses[res.Status]++
			if res.Status == http.StatusCreated {
				winner = res.Raw
			}
		})
	}
	close(start)
	wg.Wait()
	if winner != "" {
		var o orderBody
		apitest.Response{Raw: winner}.Decode(t, &o)
		winner = o.ID
	}
	return statuses, winner
}

func buyers(e *ordertest.Env, prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = e.User(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func TestNoDoubleSellUnderABurstOfBuyers(t *testing.T) {
	e := ordertest.New(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)

	statuses, winner := burst(t, e, ticketID, buyers(e, "buyer", 50))
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 49}, statuses)
	assert.Equal(t, winner, e.Replica(ticketID).OrderID)

	res := e.API.Do("DELETE", "/api/orders/"+winner, nil, apitest.As(e.User(e.Order(winner).UserID)))
	require.Equal(t, http.StatusNoContent, res.Status)

	statuses, second := burst(t, e, ticketID, buyers(e, "second-wave", 50))
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 49}, statuses, "after a cancellation exactly one new buyer wins")
	assert.NotEqual(t, winner, second)
	assert.Equal(t, second, e.Replica(ticketID).OrderID)
}

func TestNoDoubleSellForManyTicketsAtOnce(t *testing.T) {
	// 150 buyers from one address at once: more than its reserving limit.
	e := ordertest.New(t, ordertest.Unlimited())
	const tickets, perTicket = 10, 15
	var wg sync.WaitGroup
	results := make([]map[int]int, tickets)
	ticketIDs := make([]string, tickets)
	for i := range tickets {
		ticketIDs[i] = e.ListTicket("seller", fmt.Sprint("Concert ", i), 1000)
	}
	for i := range tickets {
		wg.Go(func() {
			results[i], _ = burst(t, e, ticketIDs[i], buyers(e, fmt.Sprint("t", i), perTicket))
		})
	}
	wg.Wait()
	for i, r := range results {
		assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: perTicket - 1}, r, "ticket %d", i)
	}
}

// The seller's price change and a reservation race. Whichever lands first,
// the order carries the price of the very version it reserved, and the
// replica ends at the latest version with the hold intact.
func TestPriceRaceTheOrderKeepsThePriceOfTheVersionItReserved(t *testing.T) {
	e := ordertest.New(t, ordertest.Uncapped())
	priceAt := map[int64]money.Price{0: 1000, 1: 2500}
	saw := map[int64]int{}
	for round := range 20 {
		ticketID := e.ListTicket("seller", "Concert", priceAt[0])
		var wg sync.WaitGroup
		var o orderBody
		wg.Go(func() {
			res, err := e.API.Try("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer")))
			if assert.NoError(t, err) && assert.Equal(t, http.StatusCreated, res.Status, res.Raw) {
				res.Decode(t, &o)
			}
		})
		wg.Go(func() {
			assert.NoError(t, e.Handle(events.TicketUpdated{ID: ticketID, Version: 1, Title: "Concert", Price: priceAt[1], UserID: "seller"}))
		})
		wg.Wait()
		require.NotEmpty(t, o.ID, "round %d", round)

		stored := e.Order(o.ID)
		assert.Equal(t, priceAt[stored.TicketVersion], stored.Ticket.Price, "round %d: the price of version %d", round, stored.TicketVersion)
		assert.Equal(t, float64(stored.Ticket.Price.Cents())/100, o.Ticket.Price)
		saw[stored.TicketVersion]++

		replica := e.Replica(ticketID)
		assert.Equal(t, int64(1), replica.Version, "round %d", round)
		assert.Equal(t, priceAt[1], replica.Price)
		assert.Equal(t, o.ID, replica.OrderID, "a price change never releases a hold")
	}
	t.Logf("reservations that saw version 0: %d, version 1: %d", saw[0], saw[1])
}

func TestALaterPriceChangeNeverChangesAnExistingOrder(t *testing.T) {
	e := ordertest.New(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	o := reserve(t, e, e.User("buyer"), ticketID)
	// Tickets accepted a new price before it saw order:created.
	require.NoError(t, e.Handle(events.TicketUpdated{ID: ticketID, Version: 1, Title: "Concert, front row", Price: 5000, UserID: "seller"}))

	var shown orderBody
	e.API.Do("GET", "/api/orders/"+o.ID, nil, apitest.As(e.User("buyer"))).Decode(t, &shown)
	assert.Equal(t, 10.0, shown.Ticket.Price)
	assert.Equal(t, "Concert", shown.Ticket.Title)
	assert.Equal(t, money.Price(5000), e.Replica(ticketID).Price)
}

// ticket:updated carries tickets' view of the hold, which lags orders' own.
// Orders never takes holds from it: a stale "reserved by A" does not lock a
// free ticket, and a stale "free" does not release a held one.
func TestTicketEventsNeverChangeTheReplicasHold(t *testing.T) {
	e := ordertest.New(t)
	ticketID := e.ListTicket("seller", "Concert", 1000)
	a := reserve(t, e, e.User("buyer-a"), ticketID)
	require.Equal(t, http.StatusNoContent, e.API.Do("DELETE", "/api/orders/"+a.ID, nil, apitest.As(e.User("buyer-a"))).Status)

	// Tickets' news of a's reservation arrives after a was cancelled.
	require.NoError(t, e.Handle(events.TicketUpdated{ID: ticketID, Version: 1, Title: "Concert", Price: 1000, UserID: "seller", OrderID: a.ID}))
	assert.Empty(t, e.Replica(ticketID).OrderID)
	b := reserve(t, e, e.User("buyer-b"), ticketID)

	// Tickets' news of a's release arrives while b holds the ticket.
	require.NoError(t, e.Handle(events.TicketUpdated{ID: ticketID, Version: 2, Title: "Concert", Price: 1000, UserID: "seller"}))
	assert.Equal(t, b.ID, e.Replica(ticketID).OrderID)
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticketID}, apitest.As(e.User("buyer-c")))
	assert.Equal(t, http.StatusConflict, res.Status)

	// Nor does a stale "sold" sell it.
	require.NoError(t, e.Handle(events.TicketUpdated{ID: ticketID, Version: 3, Title: "Concert", Price: 1000, UserID: "seller", OrderID: a.ID, Sold: true}))
	assert.False(t, e.Replica(ticketID).Sold)
	assert.Equal(t, int64(3), e.Replica(ticketID).Version)
	assert.Equal(t, events.StatusCreated, e.Order(b.ID).Status)
}
