// Package ordertest builds the orders service over real servers for the
// orders packages' tests and benchmarks: a fresh database, the shared NATS
// Streaming server, the outbox relay, the HTTP handler and the listeners'
// handlers, plus helpers that feed the replica the events tickets would send.
package ordertest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
	"ticketing.dev/orders/internal/app"
	"ticketing.dev/orders/internal/listeners"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/store"
)

// JWTKey signs the sessions tests act with.
const JWTKey = "orders-test-key-0123456789"

// Window is the reservation window of the test service.
const Window = 15 * time.Minute

// Env is one orders service over its own database.
type Env struct {
	t     testing.TB
	Store *store.Store
	// Proxy stands between the service and its database (ThroughProxy), nil
	// otherwise; Direct reads and writes the database past it, for the
	// test's own checks, whatever the proxy is doing.
	Proxy    *testenv.FaultProxy
	Direct   *store.Store
	Bus      *bus.Client
	API      *apitest.Client
	Window   time.Duration
	handlers map[events.Subject]bus.Handler
}

// Option adjusts the environment.
type Option func(*options)

type options struct {
	logger        *slog.Logger
	proxied       bool
	window        time.Duration
	lapseInterval time.Duration
}

// Quiet drops the service's logs, which otherwise go to the test's log: for
// benchmarks, where logging every request would be what is measured.
func Quiet() Option { return func(o *options) { o.logger = slog.New(slog.DiscardHandler) } }

// ThroughProxy connects the service to its database through a fault proxy
// (Env.Proxy), as production connects: the client's own timeouts, retries
// and pool see the faults the proxy brings.
func ThroughProxy() Option { return func(o *options) { o.proxied = true } }

// WithWindow sets the reservation window (Window otherwise).
func WithWindow(d time.Duration) Option { return func(o *options) { o.window = d } }

// Lapsing runs the overdue lapse every interval, as the service does.
func Lapsing(interval time.Duration) Option { return func(o *options) { o.lapseInterval = interval } }

// New starts the service: relay running, HTTP served, handlers ready to be
// called directly (Deliver). Listeners are not subscribed to the broker.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{logger: testenv.Logger(t), window: Window}
	for _, opt := range opts {
		opt(&o)
	}
	db := testenv.NewDatabase(t)
	direct := store.New(db)
	require.NoError(t, direct.EnsureIndexes(testenv.Context(t)))
	st, proxy := direct, (*testenv.FaultProxy)(nil)
	if o.proxied {
		var uri string
		uri, proxy = testenv.ProxyMongoURI(t, testenv.MongoURI(t)+db.Name())
		client, proxiedDB, err := mongox.Connect(context.Background(), uri, db.Name())
		require.NoError(t, err)
		t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
		st = store.New(proxiedDB)
		db = proxiedDB
	}
	b := testenv.NewBus(t, testenv.NATSURL(t))
	logger := o.logger
	relay := outbox.NewRelay(b, logger, st.Orders()).WithInterval(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if o.lapseInterval > 0 {
		lapsed := make(chan struct{})
		go func() { defer close(lapsed); _ = st.Lapser(logger, o.lapseInterval, relay.Notify)(ctx) }()
		t.Cleanup(func() { cancel(); <-lapsed })
	}

	sessions, err := session.NewManager(JWTKey, false)
	require.NoError(t, err)
	deps := &service.Deps{Name: "orders", Logger: logger, DB: db, Bus: b, Sessions: sessions}
	srv := httptest.NewServer(app.Handler(deps, st, o.window, relay.Notify))
	t.Cleanup(srv.Close)

	e := &Env{
		t: t, Store: st, Proxy: proxy, Direct: direct, Bus: b, API: apitest.New(t, srv.URL),
		Window: o.window, handlers: map[events.Subject]bus.Handler{},
	}
	for _, s := range listeners.Subscriptions(st, logger, relay.Notify) {
		e.handlers[s.Subject] = s.Handler
	}
	return e
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
func (e *Env) User(userID string) string { return apitest.Session(e.t, JWTKey, userID) }

// Message wraps p in an envelope as the bus delivers it.
func Message(t testing.TB, p events.Payload) bus.Message {
	t.Helper()
	env, err := events.New(p)
	require.NoError(t, err)
	return bus.Message{Envelope: env, Deliveries: 1}
}

// Deliver hands m to the listener for its subject, as the bus would, and
// returns what the handler returned (nil means acked).
func (e *Env) Deliver(m bus.Message) error {
	return e.handlers[m.Subject](context.Background(), m)
}

// Handle delivers a fresh event carrying p.
func (e *Env) Handle(p events.Payload) error { return e.Deliver(Message(e.t, p)) }

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
	o, err := e.Direct.Order(context.Background(), id)
	require.NoError(e.t, err)
	return o
}

// Recorder collects the events published on some subjects.
type Recorder struct {
	mu  sync.Mutex
	got []events.Envelope
}

// Record subscribes a fresh queue group to subjects on e's broker.
func (e *Env) Record(subjects ...events.Subject) *Recorder {
	e.t.Helper()
	r := &Recorder{}
	queue := testenv.RandomName("recorder")
	for _, s := range subjects {
		require.NoError(e.t, e.Bus.Subscribe(bus.Subscription{Subject: s, Queue: queue, Handler: func(_ context.Context, m bus.Message) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.got = append(r.got, m.Envelope)
			return nil
		}}))
	}
	return r
}

// About returns the recorded events whose payload has "id" orderID, in
// arrival order, as subject names.
func (r *Recorder) About(orderID string) []events.Subject {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.Subject
	for _, env := range r.got {
		if payloadID(env) == orderID {
			out = append(out, env.Subject)
		}
	}
	return out
}

// Find returns the first recorded event with subject about orderID.
func (r *Recorder) Find(subject events.Subject, orderID string) (events.Envelope, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, env := range r.got {
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
