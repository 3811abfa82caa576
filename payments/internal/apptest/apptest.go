// Package apptest starts payments as main does (common/servicetest) — the
// real router, a real database, a real broker (testenv.NewBroker), stripe-go —
// for tests, with Stripe played by stripe-mock or by the Stripe stand-in
// (infra/stripestandin: PaymentIntent states, declines, 3-D Secure, signed
// webhooks to this payments). Only tests import it.
package apptest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/app"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/store"
)

// StripeKey is a made-up test-mode key, built at run time so no key-shaped
// string sits in the repository.
var StripeKey = "sk_test_" + strings.Repeat("x", 24)

// WebhookSecret is the harness's STRIPE_WEBHOOK_SECRET, made at run time.
var WebhookSecret = "whsec_" + testenv.RandomName("standin")

// Harness is one payments service.
type Harness struct {
	t   testing.TB
	API *apitest.Client
	App *app.App
	// Stripe is the Stripe stand-in; nil when the harness runs on stripe-mock.
	Stripe *stripestandin.Server
	// StripeURL is where payments reaches Stripe.
	StripeURL string
	NATS      *testenv.Broker
	// Bus is a client of the test's own, to publish other services' events.
	Bus *bus.Client
	// Paid records the payment:created events the broker delivered.
	Paid *testenv.Recorder
	// Proxy stands between payments and its database (Options.FaultProxy).
	Proxy *testenv.FaultProxy
	// DB is the service's database, reached directly (never through Proxy).
	DB *mongo.Database

	svc     *servicetest.Service[*app.App]
	charges *store.Charges
	orders  *store.Orders
}

// Options choose the harness's Stripe and database.
type Options struct {
	// StripeMock runs against stripe-mock instead of the fake server.
	StripeMock bool
	// FaultProxy puts a testenv.FaultProxy (Harness.Proxy) between payments
	// and its database.
	FaultProxy bool
	// SameAs starts a second payments process beside another harness's: the
	// same database, broker and Stripe — a replica, or the process that
	// comes up after the first one died.
	SameAs *Harness
	// Now, when set, is the payer's clock (set before anything runs).
	Now func() time.Time
	// Env sets more of the service's environment (limits, say).
	Env map[string]string
}

// ReconcileInterval is the harness refunder's interval: longer than any
// test, so only what wakes it (a cancellation recorded) or a test calling
// Reconcile makes it act.
const ReconcileInterval = time.Hour

// CallTimeout bounds the harness payer's calls to Stripe, so a test with a
// Stripe that hangs waits seconds, not the production half minute.
const CallTimeout = 2 * time.Second

// New starts payments for the test, as main does (servicetest), on a broker
// of the harness's own: payments' durable queue group must not be shared
// with another test's payments.
func New(t testing.TB, opts Options) *Harness {
	t.Helper()
	h := &Harness{t: t}
	settings := h.environment(opts)
	settings = append(settings, servicetest.Before(func(a *app.App) {
		a.Payer.CallTimeout = CallTimeout
		if opts.Now != nil {
			a.Payer.Now = opts.Now
		}
	}))
	h.svc = servicetest.Start(t, app.Service, settings...)
	h.App, h.API = h.svc.App, h.svc.API
	if h.Stripe != nil && opts.SameAs == nil {
		h.Stripe.SetWebhook(h.svc.URL+"/api/payments/webhook", WebhookSecret)
	}
	if h.DB == nil {
		h.DB = h.svc.Deps.DB
	}
	st := store.New(h.DB)
	h.charges, h.orders = st.Charges, st.Orders
	// The refunder's first pass settles what an earlier process left (with
	// SameAs); waiting for it keeps it from racing the test.
	require.Eventually(t, func() bool { return h.App.Payer.Passes() > 0 }, 20*time.Second, 5*time.Millisecond)

	h.Bus = h.NATS.NewBus(t)
	h.Paid = testenv.Record(t, h.Bus, events.SubjectPaymentCreated)
	return h
}

// environment chooses Stripe, the broker and the database for opts, and
// returns the service's environment for them. h.DB is set when payments
// reaches its database other than directly (a proxy), or shares another's.
func (h *Harness) environment(opts Options) []servicetest.Option {
	t := h.t
	if other := opts.SameAs; other != nil {
		h.Stripe, h.StripeURL, h.NATS = other.Stripe, other.StripeURL, other.NATS
		direct := testenv.MongoURI(t) + other.DB.Name()
		h.DB = connect(t, direct)
		return []servicetest.Option{
			servicetest.Env(other.svc.Env),
			servicetest.Set("NATS_CLIENT_ID", testenv.RandomName("payments")),
			servicetest.Set("MONGO_URI", direct),
		}
	}
	if opts.StripeMock {
		h.StripeURL = testenv.StripeMockURL(t)
	} else {
		h.Stripe, h.StripeURL = StartStandIn(t)
	}
	h.NATS = testenv.NewBroker(t)
	env := []servicetest.Option{
		servicetest.Set("STRIPE_KEY", StripeKey),
		servicetest.Set("STRIPE_WEBHOOK_SECRET", WebhookSecret),
		servicetest.Set("STRIPE_API_BASE", h.StripeURL),
		servicetest.Set("NATS_URL", h.NATS.URL),
		servicetest.Set("EVENT_BUS", h.NATS.Transport),
		servicetest.Set("PAYMENTS_RECONCILE_INTERVAL", ReconcileInterval.String()),
	}
	if opts.FaultProxy {
		direct := testenv.DatabaseURI(t)
		var proxied string
		proxied, h.Proxy = testenv.ProxyMongoURI(t, direct)
		h.DB = connect(t, direct)
		env = append(env, servicetest.Set("MONGO_URI", proxied))
	}
	if opts.Env != nil {
		env = append(env, servicetest.Env(opts.Env))
	}
	return env
}

// StopBackground stops the relay and the refunder, as a process that died
// would: what it left in the database is for another process to settle.
func (h *Harness) StopBackground() { h.svc.Stop() }

// connect is a client of the test's own on uri (with the service's client
// timeouts), disconnected when the test ends.
func connect(t testing.TB, uri string) *mongo.Database {
	t.Helper()
	client, db, err := mongox.Connect(context.Background(), uri, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return db
}

// Session is a session token for user.
func (h *Harness) Session(user string) string { return h.svc.Session(user) }

// Order puts an open order in payments' replica, as order:created would,
// and returns its id.
func (h *Harness) Order(buyer string, price money.Price, window time.Duration) string {
	h.t.Helper()
	e := OrderCreated(buyer, price, window)
	require.NoError(h.t, h.App.Orders.ApplyOrderCreated(testenv.Context(h.t), e))
	return e.ID
}

// PaidOrder is Order, paid for by its buyer (201).
func (h *Harness) PaidOrder(buyer string, price money.Price) string {
	h.t.Helper()
	id := h.Order(buyer, price, time.Hour)
	res := h.Pay(buyer, id, "tok_visa")
	require.Equal(h.t, http.StatusCreated, res.Status, res.Raw)
	return id
}

// OrderCreated is a new order's order:created.
func OrderCreated(buyer string, price money.Price, window time.Duration) events.OrderCreated {
	return events.OrderCreated{
		ID: primitive.NewObjectID().Hex(), Version: 0, Status: events.StatusCreated, UserID: buyer,
		ExpiresAt: time.Now().Add(window), Ticket: events.OrderTicket{ID: primitive.NewObjectID().Hex(), Price: price},
	}
}

// SetStatus applies version of the order with status to the replica.
func (h *Harness) SetStatus(orderID string, version int64, status events.OrderStatus) {
	h.t.Helper()
	require.NoError(h.t, h.App.Orders.ApplyOrderStatus(testenv.Context(h.t), orderID, version, status))
}

// Publish sends another service's event.
func (h *Harness) Publish(p events.Payload) {
	h.t.Helper()
	require.NoError(h.t, h.Bus.Publish(testenv.Context(h.t), testenv.Message(h.t, p).Envelope))
}

// Pay is POST /api/payments as user with a card token ("" for none: the
// browser is to confirm).
func (h *Harness) Pay(user, orderID, token string) apitest.Response {
	h.t.Helper()
	return h.API.Do("POST", "/api/payments", payBody(orderID, token), apitest.As(h.Session(user)))
}

func payBody(orderID, token string) map[string]string {
	body := map[string]string{"orderId": orderID}
	if token != "" {
		body["token"] = token
	}
	return body
}

// PayAsync is Pay from another goroutine; the answer arrives on the channel
// (a transport error as status 0, in Raw).
func (h *Harness) PayAsync(user, orderID, token string) <-chan apitest.Response {
	session := h.Session(user)
	answer := make(chan apitest.Response, 1)
	go func() {
		res, err := h.API.Try("POST", "/api/payments", payBody(orderID, token), apitest.As(session))
		if err != nil {
			res.Raw = err.Error()
		}
		answer <- res
	}()
	return answer
}

// Webhook posts payload to the webhook route with the Stripe-Signature header.
func (h *Harness) Webhook(payload []byte, signature string) apitest.Response {
	h.t.Helper()
	res, err := h.API.Try("POST", "/api/payments/webhook", string(payload), apitest.Header("Stripe-Signature", signature))
	require.NoError(h.t, err)
	return res
}

// StartStandIn serves a Stripe stand-in for the test; its webhooks are
// pointed at payments once it runs.
func StartStandIn(t testing.TB) (*stripestandin.Server, string) {
	s := stripestandin.New(stripestandin.Config{Retry: 50 * time.Millisecond})
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, srv.URL
}

// EventsFor returns the stand-in's events for the order's intents, of typ
// ("" for all).
func (h *Harness) EventsFor(orderID, typ string) []stripestandin.Event {
	intents := map[string]bool{}
	for _, id := range h.Stripe.IntentsFor(orderID) {
		intents[id] = true
	}
	var out []stripestandin.Event
	for _, ev := range h.Stripe.Events() {
		if intents[ev.Intent] && (typ == "" || ev.Type == typ) {
			out = append(out, ev)
		}
	}
	return out
}

// Charge is the order's charge, which must exist (read directly, never
// through the fault proxy).
func (h *Harness) Charge(orderID string) payment.Charge {
	h.t.Helper()
	c, err := h.charges.Get(testenv.Context(h.t), orderID)
	require.NoError(h.t, err)
	return c
}

// HasCharge reports whether the order has a charge that was attempted (a
// cancellation alone leaves one with no attempt).
func (h *Harness) HasCharge(orderID string) bool {
	h.t.Helper()
	c, ok := h.chargeIfAny(orderID)
	return ok && c.Attempted()
}

// HasAnyCharge reports whether the order has a charge document, attempted
// or not.
func (h *Harness) HasAnyCharge(orderID string) bool {
	h.t.Helper()
	_, ok := h.chargeIfAny(orderID)
	return ok
}

func (h *Harness) chargeIfAny(orderID string) (payment.Charge, bool) {
	h.t.Helper()
	c, err := h.charges.Get(testenv.Context(h.t), orderID)
	if err != nil {
		require.ErrorIs(h.t, err, payment.ErrChargeNotFound)
		return payment.Charge{}, false
	}
	return c, true
}

// Replica is the order as payments' replica has it.
func (h *Harness) Replica(orderID string) (payment.Order, error) {
	return h.orders.Get(testenv.Context(h.t), orderID)
}

// ForOrder returns the payment:created events paid recorded for one order.
func ForOrder(t testing.TB, paid *testenv.Recorder, orderID string) []events.PaymentCreated {
	t.Helper()
	return testenv.Payloads(t, paid, func(e events.PaymentCreated) bool { return e.OrderID == orderID })
}

// WebhooksApplied reports whether payments recorded every event the
// stand-in made for the order's intents as applied.
func (h *Harness) WebhooksApplied(orderID string) bool {
	h.t.Helper()
	evs := h.EventsFor(orderID, "")
	ids := bson.A{}
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	n, err := h.DB.Collection("webhook_events").CountDocuments(testenv.Context(h.t), bson.M{"_id": bson.M{"$in": ids}})
	require.NoError(h.t, err)
	return int(n) == len(evs)
}

// ClosedURL is an http URL nothing listens on: a Stripe that cannot be reached.
func ClosedURL(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}
