package listeners_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testenv"
	"ticketing.dev/tickets/internal/listeners"
	"ticketing.dev/tickets/internal/store"
	"ticketing.dev/tickets/internal/ticket"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type harness struct {
	t        *testing.T
	tickets  *store.Tickets
	handlers map[events.Subject]bus.Handler
}

func newHarness(t *testing.T) *harness {
	db := testenv.NewDatabase(t)
	h := &harness{t: t, tickets: store.New(db), handlers: map[events.Subject]bus.Handler{}}
	for _, s := range listeners.Subscriptions(h.tickets) {
		h.handlers[s.Subject] = s.Handler
	}
	return h
}

func (h *harness) newTicket() string {
	h.t.Helper()
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(h.t, h.tickets.Create(testenv.Context(h.t), &tk))
	return tk.ID
}

func (h *harness) get(id string) ticket.Ticket {
	h.t.Helper()
	tk, err := h.tickets.Get(testenv.Context(h.t), id)
	require.NoError(h.t, err)
	return tk
}

func created(orderID, ticketID string) events.Payload {
	return events.OrderCreated{ID: orderID, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: time.Now().Add(time.Minute), Ticket: events.OrderTicket{ID: ticketID, Price: 1000}}
}

func cancelled(orderID, ticketID string) events.Payload {
	return events.OrderCancelled{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: ticketID}}
}

func completed(orderID, ticketID string) events.Payload {
	return events.OrderCompleted{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: ticketID}}
}

// handle runs the handler for m's subject, as the bus would.
func (h *harness) handle(m bus.Message) error {
	return h.handleIn(testenv.Context(h.t), m)
}

func (h *harness) handleIn(ctx context.Context, m bus.Message) error {
	return h.handlers[m.Subject](ctx, m)
}

func TestOrderCreatedWaitsUntilTheHoldingOrderIsReleased(t *testing.T) {
	h := newHarness(t)
	id := h.newTicket()
	require.NoError(t, h.handle(testenv.Message(t, created("a", id))))

	err := h.handle(testenv.Message(t, created("b", id)))
	require.ErrorIs(t, err, bus.ErrNotYet, "not acked: order a's release is still on its way")
	assert.Equal(t, "a", h.get(id).OrderID)

	require.NoError(t, h.handle(testenv.Message(t, cancelled("a", id))))
	require.NoError(t, h.handle(testenv.Message(t, created("b", id))))
	tk := h.get(id)
	assert.Equal(t, "b", tk.OrderID)
	assert.Equal(t, int64(3), tk.Version)
}

func TestAStaleCancellationDoesNotReleaseTheTicket(t *testing.T) {
	h := newHarness(t)
	id := h.newTicket()
	require.NoError(t, h.handle(testenv.Message(t, created("b", id))))
	require.NoError(t, h.handle(testenv.Message(t, cancelled("a", id))))
	tk := h.get(id)
	assert.Equal(t, "b", tk.OrderID, "order a does not hold the ticket, so its cancellation releases nothing")
	assert.True(t, tk.Reserved())
}

func TestALateOrderCreatedForACancelledOrderDoesNotReserve(t *testing.T) {
	h := newHarness(t)
	id := h.newTicket()
	require.NoError(t, h.handle(testenv.Message(t, cancelled("a", id))))
	require.NoError(t, h.handle(testenv.Message(t, created("a", id))))
	assert.True(t, h.get(id).ForSale())
}

func TestACompletionSellsTheTicketWhateverArrivedBefore(t *testing.T) {
	h := newHarness(t)
	id := h.newTicket()
	require.NoError(t, h.handle(testenv.Message(t, completed("a", id))))
	require.NoError(t, h.handle(testenv.Message(t, created("a", id))))
	require.NoError(t, h.handle(testenv.Message(t, created("z", id))), "an order for a sold ticket is stale")
	tk := h.get(id)
	assert.True(t, tk.Sold)
	assert.Equal(t, "a", tk.OrderID)
}

func TestAnEventForAnUnknownTicketIsAFailureNotAWait(t *testing.T) {
	h := newHarness(t)
	err := h.handle(testenv.Message(t, created("a", "5f1e0000c0ffee0000c0ffee")))
	require.ErrorIs(t, err, ticket.ErrNotFound)
	assert.NotErrorIs(t, err, bus.ErrNotYet, "retried a bounded number of times, then parked")
}

func TestARepeatedEventHasNoSecondEffect(t *testing.T) {
	h := newHarness(t)
	id := h.newTicket()
	for _, p := range []events.Payload{created("a", id), cancelled("a", id), created("b", id), completed("b", id)} {
		m := testenv.Message(t, p)
		require.NoError(t, h.handle(m))
		version := h.get(id).Version
		require.NoError(t, h.handle(m))
		assert.Equal(t, version, h.get(id).Version, "%s twice", m.Subject)
	}
}

// Through a real broker: the listeners reserve, release and sell, each change
// is published as ticket:updated in version order, and an order:created that
// arrives while another order holds the ticket is redelivered until that
// order's cancellation has been applied.
func TestListenersOverTheBroker(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	tickets := store.New(db)
	nats := testenv.NewBroker(t)
	service := nats.NewBus(t)
	relay := outbox.NewRelay(service, testenv.Logger(t), tickets.Outbox())
	testenv.Background(t, relay.Run)

	var mu sync.Mutex
	var attempts []string // "subject order -> result", in the order handlers ran
	for _, s := range listeners.Subscriptions(tickets) {
		inner := s.Handler
		s.AckWait = time.Second // the least stan allows: a waiting event comes back quickly
		s.Handler = func(ctx context.Context, m bus.Message) error {
			err := inner(ctx, m)
			var p struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(m.Data, &p)
			result := "ok"
			if err != nil {
				result = "wait"
			}
			mu.Lock()
			attempts = append(attempts, string(m.Subject)+" "+p.ID+" -> "+result)
			mu.Unlock()
			return err
		}
		require.NoError(t, service.Subscribe(s))
	}
	var updates []events.TicketUpdated
	observer := nats.NewBus(t)
	require.NoError(t, observer.Subscribe(bus.Subscription{Subject: events.SubjectTicketUpdated, Queue: "observer", Handler: func(_ context.Context, m bus.Message) error {
		p, err := events.Decode[events.TicketUpdated](m.Envelope)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		updates = append(updates, p)
		return nil
	}}))

	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(t, tickets.Create(ctx, &tk))
	orders := nats.NewBus(t)
	publish := func(p events.Payload) {
		env, err := events.New(p)
		require.NoError(t, err)
		require.NoError(t, orders.Publish(ctx, env))
	}
	state := func() ticket.Ticket {
		got, err := tickets.Get(ctx, tk.ID)
		require.NoError(t, err)
		return got
	}

	publish(created("a", tk.ID))
	require.Eventually(t, func() bool { return state().OrderID == "a" }, 10*time.Second, 20*time.Millisecond)

	// b's order:created overtakes a's order:cancelled.
	publish(created("b", tk.ID))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) > 0 && attempts[len(attempts)-1] == "order:created b -> wait"
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "a", state().OrderID)
	publish(cancelled("a", tk.ID))
	require.Eventually(t, func() bool { return state().OrderID == "b" }, 10*time.Second, 20*time.Millisecond)

	publish(completed("b", tk.ID))
	require.Eventually(t, func() bool { return state().Sold }, 10*time.Second, 20*time.Millisecond)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(updates) == 4
	}, 10*time.Second, 20*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	type step struct {
		version int64
		orderID string
		sold    bool
	}
	var steps []step
	for _, u := range updates {
		steps = append(steps, step{u.Version, u.OrderID, u.Sold})
	}
	assert.Equal(t, []step{{1, "a", false}, {2, "", false}, {3, "b", false}, {4, "b", true}}, steps)
	assert.Contains(t, attempts, "order:created b -> ok")
}

func TestARedeliveredOrderCreatedAfterItsCancellationDoesNotLock(t *testing.T) {
	h := newHarness(t)
	id := h.newTicket()
	first := testenv.Message(t, created("a", id))
	require.NoError(t, h.handle(first))
	require.NoError(t, h.handle(testenv.Message(t, cancelled("a", id))))
	released := h.get(id)
	require.True(t, released.ForSale())

	again := first
	again.Deliveries = 2
	require.NoError(t, h.handle(again))
	tk := h.get(id)
	assert.True(t, tk.ForSale(), "the redelivery must not lock the ticket again")
	assert.Equal(t, released.Version, tk.Version, "and writes nothing")
}

// Must hold: 10,000 reserve/cancel cycles on one ticket leave its document
// the size it had after the first, under 4 KiB. The handlers are driven
// directly (the broker is not what is measured); the real relay publishes and
// removes the queued events after each cycle, as it does in service when
// notified.
func TestTenThousandReserveCancelCyclesKeepTheTicketSmall(t *testing.T) {
	const cycles = 10_000
	h := newHarness(t)
	// 30,000 writes and as many outbox removals: several minutes on a busy
	// machine, more than testenv.Context allows.
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	relay := outbox.NewRelay(testenv.SharedBroker(t).NewBus(t), testenv.Logger(t), h.tickets.Outbox())
	id := h.newTicket()
	oid, err := primitive.ObjectIDFromHex(id)
	require.NoError(t, err)
	size := func() int {
		raw, err := h.tickets.Outbox().Collection().FindOne(ctx, bson.M{"_id": oid}).Raw()
		require.NoError(t, err)
		return len(raw)
	}

	_, err = relay.Flush(ctx) // ticket:created
	require.NoError(t, err)
	start := time.Now()
	var afterFirst int
	for i := range cycles {
		order := fmt.Sprintf("order-%05d", i)
		require.NoError(t, h.handleIn(ctx, testenv.Message(t, created(order, id))))
		require.NoError(t, h.handleIn(ctx, testenv.Message(t, cancelled(order, id))))
		published, err := relay.Flush(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, published, "cycle %d: reserved, then released", i)
		if i == 0 {
			afterFirst = size()
		}
	}
	took := time.Since(start)
	tk := h.get(id)
	assert.True(t, tk.ForSale())
	assert.Equal(t, int64(2*cycles), tk.Version)
	final := size()
	t.Logf("ticket document (BSON): %d bytes after 1 cycle, %d bytes after %d cycles; %s, %s a cycle",
		afterFirst, final, cycles, took.Round(time.Second), (took / cycles).Round(100*time.Microsecond))
	assert.Less(t, final, 4096, "must hold: under 4 KiB")
	assert.Equal(t, afterFirst, final, "the document does not grow with cycles")
}
