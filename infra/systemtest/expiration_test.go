package systemtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/ratelimit"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/infra/systemtest/harness"
)

// holdQueue is the asynq queue expiration keeps its holds in.
const holdQueue = "expiration"

// generousLateness bounds how late after expiresAt an unpaid order may be
// seen cancelled (expiration's lateness plus two hops through the broker and
// the polling here) before a test calls it broken; the logged figures are
// what to watch.
const generousLateness = 10 * time.Second

// fullMarket is tickets, orders (with a short reservation window),
// expiration (on a Redis of the test's own) and, when asked, payments (on
// stripe-mock), all as processes around one broker.
type fullMarket struct {
	*market
	redis      *testenv.Redis
	expiration *harness.Service
	payments   *harness.Service
	holds      *asynq.Inspector
}

type fullMarketOptions struct {
	window          string
	persistentRedis bool
	payments        bool
	// cluster puts the market on a three-node broker (harness.NewOnCluster).
	cluster bool
	// expirationAlone turns off orders' own lapse of overdue orders (the
	// backstop for a job Redis lost), so that what cancels an order is
	// expiration's job: with the backstop on, it may get there first, and
	// the test would pass with expiration broken.
	expirationAlone bool
	// buyers is how many buyers reserve from the test's one address; above
	// orders' default burst per address, orders lets them all reserve at
	// once, as it would buyers behind one venue's NAT.
	buyers int
}

func newFullMarket(t *testing.T, opts fullMarketOptions) *fullMarket {
	t.Helper()
	newSystem := harness.New
	if opts.cluster {
		newSystem = harness.NewOnCluster
	}
	sys := newSystem(t)
	f := &fullMarket{
		market: &market{
			t: t, sys: sys,
			tickets: sys.Start("tickets", nil),
			orders:  sys.Start("orders", ordersEnv(opts)),
		},
		redis: testenv.NewSecuredRedis(t, opts.persistentRedis),
	}
	f.expiration = sys.Start("expiration", harness.Env{"REDIS_URL": f.redis.URL, "EXPIRATION_CHECK_INTERVAL": "1s"})
	if opts.payments {
		// Paying needs intents that succeed, which stripe-mock's never do:
		// the Stripe stand-in plays Stripe (its webhooks unsent: the
		// confirmation's answer and the refunder settle these tests).
		standIn := stripestandin.New(stripestandin.Config{})
		srv := httptest.NewServer(standIn)
		t.Cleanup(func() { srv.Close(); standIn.Close() })
		f.payments = sys.Start("payments", harness.Env{
			// A made-up test-mode key, built here: the stand-in accepts any.
			"STRIPE_KEY":            "sk_test_" + strings.Repeat("x", 24),
			"STRIPE_API_BASE":       srv.URL,
			"STRIPE_WEBHOOK_SECRET": "whsec_" + strings.Repeat("x", 24),
		})
	}
	redisOpt, err := asynq.ParseRedisURI(f.redis.URL)
	require.NoError(t, err)
	f.holds = asynq.NewInspector(redisOpt)
	t.Cleanup(func() { _ = f.holds.Close() })
	return f
}

func ordersEnv(opts fullMarketOptions) harness.Env {
	env := harness.Env{"ORDER_EXPIRATION_WINDOW": opts.window}
	if opts.expirationAlone {
		env["ORDER_EXPIRY_CHECK_INTERVAL"] = "24h"
	}
	if opts.buyers > ratelimit.DefaultRequests.PerAddress.Burst {
		env["RESERVE_ADDRESS_BURST"] = strconv.Itoa(opts.buyers)
	}
	return env
}

// pendingOrder is an order as its buyer sees it.
type pendingOrder struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (f *fullMarket) pending(buyer, orderID string) pendingOrder {
	f.t.Helper()
	res := f.orders.API.Do("GET", "/api/orders/"+orderID, nil, apitest.As(buyer))
	require.Equal(f.t, http.StatusOK, res.Status, res.Raw)
	var o pendingOrder
	res.Decode(f.t, &o)
	return o
}

// holdState is where the order's hold is in expiration's Redis: scheduled,
// pending, active, retry, archived, completed, or none.
func (f *fullMarket) holdState(orderID string) string {
	info, err := f.holds.GetTaskInfo(holdQueue, orderID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return "none"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return info.State.String()
}

func (f *fullMarket) waitHold(orderID, state string) {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.holdState(orderID) == state }, wait, tick,
		"hold of %s never became %s (is %s)", orderID, state, f.holdState(orderID))
}

// waitStatus waits until the buyer sees the order in status, and says when.
func (f *fullMarket) waitStatus(buyer, orderID, status string, within time.Duration) time.Time {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.pending(buyer, orderID).Status == status }, within, tick,
		"order %s never became %s", orderID, status)
	return time.Now()
}

func (f *fullMarket) forSale(ticketID string) bool {
	res := f.tickets.API.Do("GET", "/api/tickets", nil)
	return res.Status == http.StatusOK && strings.Contains(res.Raw, ticketID)
}

func TestAReservationThatIsNotPaidLapsesAndTheTicketIsForSaleAgain(t *testing.T) {
	f := newFullMarket(t, fullMarketOptions{window: "3s", expirationAlone: true})
	seller, alice, bob := f.sys.Session("seller"), f.sys.Session("alice"), f.sys.Session("bob")
	tk := f.list(seller, "Concert", 20)
	held := f.pending(alice, f.reserve(alice, tk.ID).ID)
	f.waitHold(held.ID, "scheduled")
	require.Eventually(t, func() bool { return f.ticket(tk.ID).Reserved }, wait, tick)
	assert.False(t, f.forSale(tk.ID))

	cancelledAt := f.waitStatus(alice, held.ID, "cancelled", 3*time.Second+generousLateness)
	lateness := cancelledAt.Sub(held.ExpiresAt)
	t.Logf("a 3s reservation was seen cancelled %s after its expiresAt", lateness.Round(time.Millisecond))
	assert.Less(t, lateness, generousLateness)
	assert.Equal(t, "completed", f.holdState(held.ID), "the hold fired once")

	require.Eventually(t, func() bool { return !f.ticket(tk.ID).Reserved }, wait, tick)
	require.Eventually(t, func() bool { return f.forSale(tk.ID) }, wait, tick, "the ticket is listed for sale again")
	f.reserve(bob, tk.ID)
}

func TestAHoldSurvivesRestartsOfExpirationAndRedis(t *testing.T) {
	f := newFullMarket(t, fullMarketOptions{window: "10s", persistentRedis: true, expirationAlone: true})
	alice := f.sys.Session("alice")
	tk := f.list(f.sys.Session("seller"), "Concert", 20)
	held := f.pending(alice, f.reserve(alice, tk.ID).ID)
	f.waitHold(held.ID, "scheduled")

	// expiration crashes; Redis restarts from its append-only file.
	f.expiration.Kill()
	f.redis.Stop(t)
	f.redis.Start(t)
	f.expiration.Start()
	require.Less(t, time.Now(), held.ExpiresAt, "the restarts took longer than the window; the test proves nothing")
	assert.Equal(t, "scheduled", f.holdState(held.ID), "the hold is still in Redis")
	assert.Equal(t, "created", f.pending(alice, held.ID).Status)

	cancelledAt := f.waitStatus(alice, held.ID, "cancelled", time.Until(held.ExpiresAt)+generousLateness)
	lateness := cancelledAt.Sub(held.ExpiresAt)
	t.Logf("after restarting expiration and Redis, the reservation was seen cancelled %s after its expiresAt", lateness.Round(time.Millisecond))
	assert.Less(t, lateness, generousLateness)
	require.Eventually(t, func() bool { return !f.ticket(tk.ID).Reserved }, wait, tick)
}

// paymentsHasOrder reports whether payments' replica has the order.
func (f *fullMarket) paymentsHasOrder(orderID string) bool {
	n, err := f.payments.DB.Collection("orders").CountDocuments(context.Background(), bson.M{"_id": orderID})
	return err == nil && n == 1
}
