package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/ordertest"
)

const maxOpen = order.DefaultMaxOpenOrders

// listTickets lists n tickets by one seller.
func listTickets(e *ordertest.Env, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.ListTicket("seller", "Seat", 1000)
	}
	return ids
}

// reserveAll reserves every ticket at once as token, and returns the
// statuses answered and the orders created.
func reserveAll(t *testing.T, e *ordertest.Env, token string, tickets []string) (map[int]int, []string) {
	t.Helper()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		created  []string
		wg       sync.WaitGroup
	)
	for _, id := range tickets {
		wg.Go(func() {
			res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": id}, apitest.As(token))
			mu.Lock()
			defer mu.Unlock()
			statuses[res.Status]++
			if res.Status == http.StatusCreated {
				created = append(created, res.Object(t)["id"].(string))
			}
			if res.Status == http.StatusConflict {
				assert.Contains(t, res.Raw, "4 open orders", "the refusal names the limit")
			}
		})
	}
	wg.Wait()
	return statuses, created
}

// slots is what the buyer's slot document counts, read past any proxy; it
// must agree with the number of slots it lists.
func slots(t *testing.T, e *ordertest.Env, buyer string) int {
	t.Helper()
	var doc struct {
		N    int            `bson:"n"`
		Open map[string]any `bson:"open"`
	}
	err := e.Direct.Outbox().Collection().Database().Collection("buyers").
		FindOne(context.Background(), bson.M{"_id": buyer}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0
	}
	require.NoError(t, err)
	require.Len(t, doc.Open, doc.N, "the count and the list agree")
	return doc.N
}

// One buyer, 20 concurrent reservations of 20 tickets: exactly the cap wins;
// a cancellation lets exactly one more in.
func TestOneBuyerHoldsAtMostMaxOpenOrders(t *testing.T) {
	e := ordertest.New(t, ordertest.Unlimited())
	buyer := e.User("bot")
	tickets := listTickets(e, 20)

	statuses, created := reserveAll(t, e, buyer, tickets)
	assert.Equal(t, map[int]int{http.StatusCreated: maxOpen, http.StatusConflict: 20 - maxOpen}, statuses)
	assert.Equal(t, maxOpen, slots(t, e, "bot"))
	held := 0
	for _, id := range tickets {
		if e.Replica(id).OrderID != "" {
			held++
		}
	}
	assert.Equal(t, maxOpen, held, "a refused reservation holds nothing")

	res := e.API.Do("DELETE", "/api/orders/"+created[0], nil, apitest.As(buyer))
	require.Equal(t, http.StatusNoContent, res.Status, res.Raw)
	var free []string
	for _, id := range tickets {
		if e.Replica(id).OrderID == "" {
			free = append(free, id)
		}
	}
	statuses, _ = reserveAll(t, e, buyer, free)
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: len(free) - 1}, statuses)

	// Another buyer is not limited by the bot.
	for _, id := range free {
		if e.Replica(id).OrderID == "" {
			reserve(t, e, e.User("fan"), id)
			break
		}
	}
	assert.Equal(t, 1, slots(t, e, "fan"))
}

// At the cap, a buyer asking again for a ticket they hold gets their order
// back (a retry after a lost answer), not a refusal.
func TestABuyerAtTheCapGetsTheirOwnOrderBack(t *testing.T) {
	e := ordertest.New(t)
	buyer := e.User("buyer")
	tickets := listTickets(e, maxOpen)
	for _, id := range tickets {
		reserve(t, e, buyer, id)
	}
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": tickets[0]}, apitest.As(buyer))
	assert.Equal(t, http.StatusOK, res.Status, res.Raw)
	assert.Equal(t, maxOpen, slots(t, e, "buyer"))
}

// fill reserves the cap's worth of orders for buyer.
func fill(t *testing.T, e *ordertest.Env, buyer string) []string {
	t.Helper()
	ids := make([]string, maxOpen)
	for i, ticket := range listTickets(e, maxOpen) {
		ids[i] = reserve(t, e, e.User(buyer), ticket).ID
	}
	return ids
}

// Cancel, expiry (expiration:complete and the lapse) and completion each free
// one slot, and a second delivery, a fresh duplicate or a repeated DELETE
// frees nothing more: afterwards exactly as many reservations succeed as
// orders left created.
func TestEveryWayOutOfCreatedFreesExactlyOneSlot(t *testing.T) {
	e := ordertest.New(t, ordertest.Unlimited())
	ctx := context.Background()
	orders := fill(t, e, "buyer")
	token := e.User("buyer")

	for range 2 {
		res := e.API.Do("DELETE", "/api/orders/"+orders[0], nil, apitest.As(token))
		require.Equal(t, http.StatusNoContent, res.Status, res.Raw)
	}
	assert.Equal(t, maxOpen-1, slots(t, e, "buyer"), "cancelled")

	expired := testenv.Message(t, events.ExpirationComplete{OrderID: orders[1]})
	require.NoError(t, e.Deliver(expired))
	require.NoError(t, e.Deliver(expired))
	require.NoError(t, e.Handle(events.ExpirationComplete{OrderID: orders[1]}))
	assert.Equal(t, maxOpen-2, slots(t, e, "buyer"), "expired")

	paid := testenv.Message(t, events.PaymentCreated{ID: "payment-1", OrderID: orders[2], StripeID: "pi_1"})
	require.NoError(t, e.Deliver(paid))
	require.NoError(t, e.Deliver(paid))
	require.NoError(t, e.Handle(events.PaymentCreated{ID: "payment-1", OrderID: orders[2], StripeID: "pi_1"}))
	assert.Equal(t, events.StatusComplete, e.Order(orders[2]).Status)
	assert.Equal(t, maxOpen-3, slots(t, e, "buyer"), "completed")

	// The lapse, as if expiration's job were lost, then its late event.
	e.Store.WithClock(func() time.Time { return time.Now().Add(2 * ordertest.Window) })
	n, err := e.Store.Lapse(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, e.Handle(events.ExpirationComplete{OrderID: orders[3]}))
	e.Store.WithClock(time.Now)
	assert.Zero(t, slots(t, e, "buyer"), "lapsed")

	statuses, _ := reserveAll(t, e, token, listTickets(e, maxOpen+2))
	assert.Equal(t, map[int]int{http.StatusCreated: maxOpen, http.StatusConflict: 2}, statuses,
		"no slot was freed twice")
}

// leaveSlot counts orderID against buyer as a reservation that died between
// taking its slot and inserting its order would have.
func leaveSlot(t *testing.T, e *ordertest.Env, buyer, orderID, ticketID string, at time.Time) {
	t.Helper()
	_, err := e.Direct.Outbox().Collection().Database().Collection("buyers").UpdateOne(context.Background(),
		bson.M{"_id": buyer},
		bson.M{"$set": bson.M{"open." + orderID: bson.M{"ticket": ticketID, "at": at}},
			"$inc": bson.M{"n": 1, "v": 1}, "$min": bson.M{"due": at}})
	require.NoError(t, err)
}

// A crash between the slot and the order leaves a slot without an order; a
// crash between cancelling and releasing leaves a cancelled order counted.
// Neither keeps the buyer out: at the cap both are settled before refusing —
// but a young slot without an order may be a reservation still in flight,
// and stays.
func TestSlotsACrashLeftBehindAreFreedAtTheCap(t *testing.T) {
	e := ordertest.New(t, ordertest.Unlimited())
	ctx := context.Background()
	token := e.User("buyer")
	orders := fill(t, e, "buyer")
	// Cancelled, and the process died before releasing anything.
	_, err := e.Store.Update(ctx, orders[0], func(o *order.Order) error { return o.Cancel() })
	require.NoError(t, err)
	assert.Equal(t, maxOpen, slots(t, e, "buyer"))

	extra := listTickets(e, 3)
	reserve(t, e, token, extra[0])
	assert.Equal(t, maxOpen, slots(t, e, "buyer"))

	young := primitive.NewObjectID()
	_, err = e.Store.Update(ctx, orders[1], func(o *order.Order) error { return o.Cancel() })
	require.NoError(t, err)
	res := e.API.Do("DELETE", "/api/orders/"+orders[2], nil, apitest.As(token))
	require.Equal(t, http.StatusNoContent, res.Status)
	// Now: orders[1] cancelled but counted, a slot free, and a young ghost.
	leaveSlot(t, e, "buyer", young.Hex(), extra[1], time.Now())
	reserve(t, e, token, extra[1])
	assert.Equal(t, maxOpen, slots(t, e, "buyer"), "the cancelled order's slot went, the young ghost's stayed")

	res = e.API.Do("POST", "/api/orders", map[string]string{"ticketId": extra[2]}, apitest.As(token))
	assert.Equal(t, http.StatusConflict, res.Status, res.Raw)

	// Once it is older than the grace, the ghost is settled with the
	// sweeper's placeholder: its order can never be stored afterwards.
	n, err := e.Direct.WithClock(func() time.Time { return time.Now().Add(2 * time.Minute) }).SweepSlots(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = e.Direct.Outbox().Collection().InsertOne(ctx, bson.M{"_id": young, "userId": "buyer", "status": "created"})
	assert.Error(t, err, "the ghost's insert cannot land after its slot was freed")
	e.Direct.WithClock(time.Now)
	reserve(t, e, token, extra[2])
	assert.Equal(t, maxOpen, slots(t, e, "buyer"))
}

// The sweeper leaves live orders' slots alone and frees the ones whose
// release a crash interrupted, once.
func TestSweepSlotsFreesOnlyWhatIsNotOpen(t *testing.T) {
	e := ordertest.New(t)
	ctx := context.Background()
	orders := fill(t, e, "buyer")
	_, err := e.Store.Update(ctx, orders[0], func(o *order.Order) error { return o.Cancel() })
	require.NoError(t, err)

	late := e.Direct.WithClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	n, err := late.SweepSlots(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = late.SweepSlots(ctx, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, n, "live orders' slots are not looked at again before they expire")
	late.WithClock(time.Now)
	assert.Equal(t, maxOpen-1, slots(t, e, "buyer"))
}

// Lost answers on the slot's own writes: a take whose answer is lost and a
// release whose answer is lost. However the request ends, the slots count
// exactly the buyer's created orders.
func TestALostSlotAnswerNeverLeaksNorDoubleFreesASlot(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy(), ordertest.Unlimited())
	token := e.User("buyer")
	tickets := listTickets(e, maxOpen+1)
	createdOrders := func() int {
		n, err := e.Direct.Outbox().Collection().CountDocuments(context.Background(),
			bson.M{"userId": "buyer", "status": events.StatusCreated})
		require.NoError(t, err)
		return int(n)
	}

	// The buyer's first slot is an insert, the later ones updates: both.
	live := []string{}
	for i, command := range []string{"insert", "update"} {
		e.Proxy.LoseAnswerOn(command, "buyers", 1)
		res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": tickets[i]}, apitest.As(token))
		require.Equal(t, i+1, e.Proxy.Lost(), "the %s's answer was lost", command)
		require.Contains(t, []int{http.StatusCreated, http.StatusServiceUnavailable}, res.Status, res.Raw)
		assert.Equal(t, createdOrders(), slots(t, e, "buyer"), "a slot for every created order, no other")
		if res.Status != http.StatusCreated {
			res = e.API.Do("POST", "/api/orders", map[string]string{"ticketId": tickets[i]}, apitest.As(token))
			require.Equal(t, http.StatusCreated, res.Status, res.Raw)
		}
		live = append(live, res.Object(t)["id"].(string))
	}
	for _, id := range tickets[2:maxOpen] {
		live = append(live, reserve(t, e, token, id).ID)
	}
	require.Equal(t, maxOpen, slots(t, e, "buyer"))

	e.Proxy.LoseAnswerOn("update", "buyers", 1)
	res := e.API.Do("DELETE", "/api/orders/"+live[0], nil, apitest.As(token))
	require.Equal(t, 3, e.Proxy.Lost(), "the release's answer was lost")
	if res.Status != http.StatusNoContent {
		require.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
		res = e.API.Do("DELETE", "/api/orders/"+live[0], nil, apitest.As(token))
		require.Equal(t, http.StatusNoContent, res.Status, res.Raw)
	}
	assert.Equal(t, maxOpen-1, slots(t, e, "buyer"), "freed once")
	reserve(t, e, token, tickets[maxOpen])
	res = e.API.Do("POST", "/api/orders", map[string]string{"ticketId": e.ListTicket("seller", "Seat", 1000)}, apitest.As(token))
	assert.Equal(t, http.StatusConflict, res.Status, res.Raw)
	assert.True(t, strings.Contains(res.Raw, "open orders"), res.Raw)
}

// Reserving is rate-limited per buyer and per address: over either limit
// the answer is 429 with Retry-After, in the common error body, and nothing
// is held. Limits small enough to reach are set for the test; the defaults
// are in app.DefaultReserving.
func TestReservingIsRateLimitedPerBuyerAndPerAddress(t *testing.T) {
	e := ordertest.New(t, ordertest.Uncapped(),
		ordertest.Setting("RESERVE_USER_BURST", "3"), ordertest.Setting("RESERVE_USER_EVERY", "1h"),
		ordertest.Setting("RESERVE_ADDRESS_BURST", "5"), ordertest.Setting("RESERVE_ADDRESS_EVERY", "1h"),
		ordertest.Setting("TRUST_PROXY", "true"))
	tickets := listTickets(e, 8)
	from := func(address string) apitest.Option { return apitest.Header("X-Forwarded-For", address) }
	try := func(buyer, address, ticket string) apitest.Response {
		return e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticket}, apitest.As(e.User(buyer)), from(address))
	}
	refused := func(res apitest.Response) {
		t.Helper()
		require.Equal(t, http.StatusTooManyRequests, res.Status, res.Raw)
		assert.Equal(t, "Too many reservations; try again later", res.Message(t))
		assert.Equal(t, "3600", res.Header.Get("Retry-After"))
	}

	for i := range 3 {
		require.Equal(t, http.StatusCreated, try("bot", "192.0.2.1", tickets[i]).Status)
	}
	refused(try("bot", "192.0.2.2", tickets[3]))
	assert.Empty(t, e.Replica(tickets[3]).OrderID, "a refused reservation holds nothing")

	// The address 192.0.2.1 has two of its five left; other buyers there
	// use them up, then a buyer with budget of their own is refused there
	// but not elsewhere.
	require.Equal(t, http.StatusCreated, try("fan-1", "192.0.2.1", tickets[4]).Status)
	require.Equal(t, http.StatusCreated, try("fan-2", "192.0.2.1", tickets[5]).Status)
	refused(try("fan-3", "192.0.2.1", tickets[6]))
	require.Equal(t, http.StatusCreated, try("fan-3", "198.51.100.7", tickets[6]).Status)
}

// The order's own insert: its answer lost (decided as stored: the slot is
// the order's), and the database gone between the hold and the insert
// (undecided: the slot stays with the hold, and the sweeper frees it once).
func TestAnUndecidedOrderKeepsItsSlotUntilTheSweeperDecides(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy(), ordertest.Unlimited())
	ctx := context.Background()
	token := e.User("buyer")
	tickets := listTickets(e, 3)

	e.Proxy.LoseAnswerOn("insert", "orders", 1)
	res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": tickets[0]}, apitest.As(token))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	assert.Equal(t, 1, slots(t, e, "buyer"))

	e.BetweenHoldAndInsert(e.Proxy.Cut)
	res = e.API.Do("POST", "/api/orders", map[string]string{"ticketId": tickets[1]}, apitest.As(token))
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	e.Store.WithClock(time.Now)
	e.Proxy.Restore()
	assert.Equal(t, 2, slots(t, e, "buyer"), "undecided: the slot stays")

	late := e.Direct.WithClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	for range 2 {
		_, err := late.SweepSlots(ctx, time.Minute)
		require.NoError(t, err)
	}
	late.WithClock(time.Now)
	assert.Equal(t, 1, slots(t, e, "buyer"), "decided as never stored: freed, once")
	_, err := e.Direct.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, e.Replica(tickets[1]).OrderID, "and its hold released")
	reserve(t, e, token, tickets[1])
	assert.Equal(t, 2, slots(t, e, "buyer"))
}
