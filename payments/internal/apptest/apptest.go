// Package apptest runs payments wired as in production — the real router,
// a real database, a real NATS Streaming server, stripe-go — for tests, with
// Stripe played by stripe-mock or by stripetest's small Stripe-shaped server
// (for declines, outages and counting requests). Only tests import it.
package apptest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/app"
	"ticketing.dev/payments/internal/gateway"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/store"
	"ticketing.dev/payments/internal/stripetest"
)

// JWTKey signs the sessions the harness mints.
const JWTKey = "payments-test-key-0123456789"

// StripeKey is a made-up test-mode key, built at run time so no key-shaped
// string sits in the repository.
var StripeKey = "sk_test_" + strings.Repeat("x", 24)

// Harness is one payments service.
type Harness struct {
	t   testing.TB
	API *apitest.Client
	App *app.App
	// Stripe is the fake Stripe; nil when the harness runs on stripe-mock.
	Stripe *stripetest.Server
	NATS   *testenv.NATS
	// Bus is a client of the test's own, to publish other services' events.
	Bus *bus.Client
	// Paid records the payment:created events the broker delivered.
	Paid *Seen[events.PaymentCreated]
	// Proxy stands between payments and its database (Options.FaultProxy).
	Proxy *testenv.FaultProxy
	// DB is the service's database, reached directly (never through Proxy).
	DB *mongo.Database

	stripeBase string
	crash      func()
	charges    *store.Charges
	orders     *store.Orders
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
}

// ReconcileInterval is the harness refunder's interval: longer than any
// test, so only what wakes it (a cancellation recorded) or a test calling
// Reconcile makes it act.
const ReconcileInterval = time.Hour

// New starts payments for the test.
func New(t testing.TB, opts Options) *Harness {
	t.Helper()
	ctx := testenv.Context(t)
	h := &Harness{t: t, Paid: &Seen[events.PaymentCreated]{}}
	switch {
	case opts.SameAs != nil:
		h.Stripe, h.stripeBase, h.NATS = opts.SameAs.Stripe, opts.SameAs.stripeBase, opts.SameAs.NATS
	case opts.StripeMock:
		h.stripeBase = testenv.StripeMockURL(t)
	default:
		h.Stripe = stripetest.New(t)
		h.stripeBase = h.Stripe.URL
	}
	if h.NATS == nil {
		h.NATS = testenv.NewNATS(t)
	}
	var db *mongo.Database
	switch {
	case opts.SameAs != nil:
		h.DB = connect(t, testenv.MongoURI(t)+opts.SameAs.DB.Name())
		db = h.DB
	case opts.FaultProxy:
		var uri string
		uri, h.Proxy = testenv.ProxiedDatabaseURI(t)
		db = connect(t, uri)
		h.DB = connect(t, testenv.MongoURI(t)+db.Name())
	default:
		h.DB = testenv.NewDatabase(t)
		db = h.DB
	}
	h.charges, h.orders = store.NewCharges(h.DB), store.NewOrders(h.DB)
	serviceBus := testenv.NewBus(t, h.NATS.URL)
	sessions, err := session.NewManager(JWTKey, false)
	require.NoError(t, err)
	deps := &service.Deps{Name: "payments", Logger: testenv.Logger(t), DB: db, Bus: serviceBus, Sessions: sessions}
	gw := gateway.New(gateway.Config{Key: StripeKey, APIBase: h.stripeBase, Logger: deps.Logger, Timeout: 2 * time.Second})
	h.App, err = app.Wire(ctx, deps, gw)
	require.NoError(t, err)
	// Serve would create them in the background; the harness serves itself.
	require.NoError(t, h.App.Charges.EnsureIndexes(ctx))
	h.App.Payer.CallTimeout = 2 * time.Second
	if opts.Now != nil {
		h.App.Payer.Now = opts.Now
	}

	runCtx, stop := context.WithCancel(context.Background())
	var background sync.WaitGroup
	background.Go(func() { _ = h.App.Relay.Run(runCtx) })
	background.Go(func() { _ = h.App.Payer.RunReconciler(ReconcileInterval)(runCtx) })
	h.crash = func() { stop(); background.Wait() }
	t.Cleanup(h.crash)
	// The refunder's first pass settles what an earlier process left (with
	// SameAs); waiting for it keeps it from racing the test.
	require.Eventually(t, func() bool { return h.App.Payer.Passes() > 0 }, 20*time.Second, 5*time.Millisecond)

	h.Bus = testenv.NewBus(t, h.NATS.URL)
	require.NoError(t, h.Bus.Subscribe(bus.Subscription{Subject: events.SubjectPaymentCreated, Queue: "watch", Handler: h.Paid.Record}))

	srv := httptest.NewServer(h.App.Handler)
	t.Cleanup(srv.Close)
	h.API = apitest.New(t, srv.URL)
	return h
}

// StopBackground stops the relay and the refunder, as a process that died
// would: what it left in the database is for another process to settle.
func (h *Harness) StopBackground() { h.crash() }

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
func (h *Harness) Session(user string) string { return apitest.Session(h.t, JWTKey, user) }

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

// Claim claims the order's charge for its buyer's "tok_visa" until a minute
// after now, as a request does before it calls Stripe.
func (h *Harness) Claim(orderID, buyer string, now time.Time) payment.Charge {
	h.t.Helper()
	o, err := h.orders.Get(testenv.Context(h.t), orderID)
	require.NoError(h.t, err)
	c, err := h.App.Charges.Claim(testenv.Context(h.t),
		payment.Charge{OrderID: orderID, UserID: buyer, Amount: o.Price, Token: "tok_visa", LeaseUntil: now.Add(time.Minute)}, now)
	require.NoError(h.t, err)
	return c
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
	env, err := events.New(p)
	require.NoError(h.t, err)
	require.NoError(h.t, h.Bus.Publish(testenv.Context(h.t), env))
}

// Pay is POST /api/payments as user.
func (h *Harness) Pay(user, orderID, token string) apitest.Response {
	h.t.Helper()
	return h.API.Do("POST", "/api/payments", map[string]string{"orderId": orderID, "token": token}, apitest.As(h.Session(user)))
}

// PayAsync is Pay from another goroutine; the answer arrives on the channel
// (a transport error as status 0, in Raw).
func (h *Harness) PayAsync(user, orderID, token string) <-chan apitest.Response {
	session := h.Session(user)
	answer := make(chan apitest.Response, 1)
	go func() {
		res, err := h.API.Try("POST", "/api/payments", map[string]string{"orderId": orderID, "token": token}, apitest.As(session))
		if err != nil {
			res.Raw = err.Error()
		}
		answer <- res
	}()
	return answer
}

// PayAndLoseTheAnswer pays for the order while Stripe answers too late:
// Stripe makes the charge, but only after the call gave up, so the payment
// answers 502 and its outcome stays open. It returns once Stripe has charged.
func (h *Harness) PayAndLoseTheAnswer(user, orderID, token string) {
	h.t.Helper()
	hold := make(chan struct{})
	h.Stripe.Next(stripetest.Held(hold))
	charged := h.Stripe.ChargesMade() + 1
	timeout := h.App.Payer.CallTimeout
	h.App.Payer.CallTimeout = 300 * time.Millisecond
	res := h.Pay(user, orderID, token)
	h.App.Payer.CallTimeout = timeout
	close(hold)
	require.Equal(h.t, http.StatusBadGateway, res.Status, res.Raw)
	require.Eventually(h.t, func() bool { return h.Stripe.ChargesMade() == charged }, 10*time.Second, 10*time.Millisecond)
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

// Seen records the events of one kind the broker delivered.
type Seen[T events.Payload] struct {
	mu  sync.Mutex
	got []T
}

// Record is a bus.Handler.
func (s *Seen[T]) Record(_ context.Context, m bus.Message) error {
	e, err := events.Decode[T](m.Envelope)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, e)
	return nil
}

// Where returns the events keep accepts.
func (s *Seen[T]) Where(keep func(T) bool) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []T
	for _, e := range s.got {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// ForOrder returns the payment:created events of one order.
func ForOrder(s *Seen[events.PaymentCreated], orderID string) []events.PaymentCreated {
	return s.Where(func(e events.PaymentCreated) bool { return e.OrderID == orderID })
}
