// Package ordertest starts the orders service for the orders packages' tests
// and benchmarks exactly as main does (app.Service, through
// common/servicetest) over real servers — a fresh database, the shared NATS
// Streaming server — with its listeners left off the broker so that tests
// deliver events themselves, plus helpers that feed the replica the events
// tickets would send.
package ordertest

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/app"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/store"
)

// Window is the reservation window of the test service.
const Window = 15 * time.Minute

// never is an interval longer than any test: background work given it does
// not run while a test does, so a test that calls Sweep or Lapse itself (or
// sets the store's clock) sees only its own passes.
const never = 24 * time.Hour

// Env is one orders service over its own database.
type Env struct {
	t   testing.TB
	svc *servicetest.Service[*app.App]
	// Store is the running service's store.
	Store *store.Store
	// Proxy stands between the service and its database (ThroughProxy), nil
	// otherwise; Direct reads and writes the database past it, for the
	// test's own checks, whatever the proxy is doing.
	Proxy  *testenv.FaultProxy
	Direct *store.Store
	Bus    *bus.Client
	API    *apitest.Client
	Window time.Duration
}

// Option adjusts the environment.
type Option func(*options)

type options struct {
	quiet         bool
	proxied       bool
	window        time.Duration
	lapseInterval time.Duration
	uncapped      bool
	unlimited     bool
	env           map[string]string
}

// Quiet drops the service's logs, which otherwise go to the test's log: for
// benchmarks, where logging every request would be what is measured.
func Quiet() Option { return func(o *options) { o.quiet = true } }

// ThroughProxy connects the service to its database through a fault proxy
// (Env.Proxy), as production connects: the client's own timeouts, retries
// and pool see the faults the proxy brings.
func ThroughProxy() Option { return func(o *options) { o.proxied = true } }

// WithWindow sets the reservation window (Window otherwise).
func WithWindow(d time.Duration) Option { return func(o *options) { o.window = d } }

// Lapsing runs the overdue lapse every interval, as the service does;
// otherwise it does not run during the test.
func Lapsing(interval time.Duration) Option { return func(o *options) { o.lapseInterval = interval } }

// Uncapped lifts the cap on a buyer's open orders (MAX_OPEN_ORDERS) and the
// reserving rate limits, for tests and benchmarks where one buyer reserves
// many tickets for another reason; otherwise the service runs with the
// defaults.
func Uncapped() Option { return func(o *options) { o.uncapped, o.unlimited = true, true } }

// Unlimited lifts the reserving rate limits only (RESERVE_*), for tests of
// the open-order cap that reserve faster than a person would.
func Unlimited() Option { return func(o *options) { o.unlimited = true } }

// Setting sets one environment variable of the service.
func Setting(name, value string) Option {
	return func(o *options) {
		if o.env == nil {
			o.env = map[string]string{}
		}
		o.env[name] = value
	}
}

// New starts the service through app.Service: indexes created, relay
// running, HTTP served, listeners ready to be called directly (Deliver) but
// not subscribed to the broker. Neither the sweeper nor (unless Lapsing) the
// lapse runs during the test.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{window: Window, lapseInterval: never}
	for _, opt := range opts {
		opt(&o)
	}
	start := []servicetest.Option{
		servicetest.Unsubscribed(),
		servicetest.Env(map[string]string{
			"ORDER_EXPIRATION_WINDOW":     o.window.String(),
			"ORDER_EXPIRY_CHECK_INTERVAL": o.lapseInterval.String(),
			"ORDER_HOLD_SWEEP_INTERVAL":   never.String(),
		}),
	}
	if o.quiet {
		start = append(start, servicetest.Quiet())
	}
	if o.uncapped {
		start = append(start, servicetest.Set("MAX_OPEN_ORDERS", "1000000"))
	}
	if o.unlimited {
		start = append(start, servicetest.Env(map[string]string{
			"RESERVE_USER_BURST": "1000000", "RESERVE_ADDRESS_BURST": "1000000",
		}))
	}
	if o.env != nil {
		start = append(start, servicetest.Env(o.env))
	}
	var proxy *testenv.FaultProxy
	var direct *store.Store
	if o.proxied {
		db := testenv.NewDatabase(t)
		var uri string
		uri, proxy = testenv.ProxyMongoURI(t, testenv.MongoURI(t)+db.Name())
		direct = store.New(db)
		start = append(start, servicetest.Set("MONGO_URI", uri))
	}
	svc := servicetest.Start(t, app.Service, start...)
	if direct == nil {
		direct = svc.App.Store
	}
	return &Env{
		t: t, svc: svc, Store: svc.App.Store, Proxy: proxy, Direct: direct,
		Bus: svc.Deps.Bus, API: svc.API, Window: o.window,
	}
}

// BetweenHoldAndInsert runs fault (say, e.Proxy.Cut) during the next
// reservation, the moment it has placed its hold and is about to insert the
// order: Reserve reads its clock once for the hold and once for the order,
// and fault comes with the second reading. The test ends the fault and calls
// e.Store.WithClock(time.Now) afterwards.
func (e *Env) BetweenHoldAndInsert(fault func()) {
	var reads atomic.Int32
	e.Store.WithClock(func() time.Time {
		if reads.Add(1) == 2 {
			fault()
		}
		return time.Now()
	})
}

// User returns a session token for userID.
func (e *Env) User(userID string) string { return e.svc.Session(userID) }

// Deliver hands m to the listener for its subject, as the bus would, and
// returns what the handler returned (nil means acked).
func (e *Env) Deliver(m bus.Message) error { return e.svc.DeliverMessage(m) }

// Handle delivers a fresh event carrying p.
func (e *Env) Handle(p events.Payload) error { return e.svc.Deliver(p) }

// ListTicket feeds the replica a ticket:created and returns the ticket's id.
func (e *Env) ListTicket(sellerID, title string, price money.Price) string {
	e.t.Helper()
	id := primitive.NewObjectID().Hex()
	require.NoError(e.t, e.Handle(events.TicketCreated{ID: id, Version: 0, Title: title, Price: price, UserID: sellerID}))
	return id
}

// Replica returns the replica of a ticket.
func (e *Env) Replica(id string) order.ReplicaTicket {
	e.t.Helper()
	rt, err := e.Direct.Ticket(context.Background(), id)
	require.NoError(e.t, err)
	return rt
}

// Order returns an order as stored.
func (e *Env) Order(id string) order.Order {
	e.t.Helper()
	o, err := e.Direct.Get(context.Background(), id)
	require.NoError(e.t, err)
	return o
}

// About returns the events rec recorded whose payload has "id" orderID, in
// arrival order, as subject names.
func About(rec *testenv.Recorder, orderID string) []events.Subject {
	var out []events.Subject
	for _, env := range rec.Envelopes() {
		if payloadID(env) == orderID {
			out = append(out, env.Subject)
		}
	}
	return out
}

// Find returns the first event rec recorded with subject about orderID.
func Find(rec *testenv.Recorder, subject events.Subject, orderID string) (events.Envelope, bool) {
	for _, env := range rec.Envelopes() {
		if env.Subject == subject && payloadID(env) == orderID {
			return env, true
		}
	}
	return events.Envelope{}, false
}

func payloadID(env events.Envelope) string {
	var p struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(env.Data, &p)
	return p.ID
}
