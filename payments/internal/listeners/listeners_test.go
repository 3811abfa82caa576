package listeners_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func replicaIs(h *apptest.Harness, id string, version int64, status events.OrderStatus) func() bool {
	return func() bool {
		o, err := h.Replica(id)
		return err == nil && o.Version == version && o.Status == status
	}
}

func TestTheReplicaLearnsOrdersFromEvents(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	created := apptest.OrderCreated("buyer", 2050, time.Hour)

	res := h.Pay("buyer", created.ID, "tok_visa")
	assert.Equal(t, http.StatusNotFound, res.Status, "an order payments has not heard of yet is not found")

	h.Publish(created)
	require.Eventually(t, replicaIs(h, created.ID, 0, events.StatusCreated), testenv.Wait, testenv.Tick)
	o, err := h.Replica(created.ID)
	require.NoError(t, err)
	assert.Equal(t, payment.Order{ID: created.ID, Version: 0, Status: events.StatusCreated, UserID: "buyer", Price: 2050,
		ExpiresAt: created.ExpiresAt.UTC().Truncate(time.Millisecond)}, o)

	res = h.Pay("buyer", created.ID, "tok_visa")
	assert.Equal(t, http.StatusCreated, res.Status, res.Raw)
}

func TestVersionsApplyInOrderWhateverOrderTheyArriveIn(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	created := apptest.OrderCreated("buyer", 2000, time.Hour)

	// order:completed (v1) overtakes order:created (v0): it is not applied
	// and not acked, and comes back once v0 is there.
	h.Publish(events.OrderCompleted{ID: created.ID, Version: 1, Ticket: events.TicketRef{ID: created.Ticket.ID}})
	_, err := h.Replica(created.ID)
	require.ErrorIs(t, err, payment.ErrOrderNotFound)
	h.Publish(created)
	require.Eventually(t, replicaIs(h, created.ID, 1, events.StatusComplete), testenv.Wait, testenv.Tick)

	// Repeats and stale versions change nothing.
	h.Publish(created)
	h.Publish(events.OrderCancelled{ID: created.ID, Version: 1, Ticket: events.TicketRef{ID: created.Ticket.ID}})
	sentinel := apptest.OrderCreated("buyer", 2000, time.Hour)
	h.Publish(sentinel)
	require.Eventually(t, replicaIs(h, sentinel.ID, 0, events.StatusCreated), testenv.Wait, testenv.Tick)
	o, err := h.Replica(created.ID)
	require.NoError(t, err)
	assert.Equal(t, events.StatusComplete, o.Status, "a stale or repeated event is acked and ignored")
	assert.Equal(t, int64(1), o.Version)
}

func TestACancelledOrderCannotBePaid(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	created := apptest.OrderCreated("buyer", 2000, time.Hour)
	h.Publish(created)
	h.Publish(events.OrderCancelled{ID: created.ID, Version: 1, Ticket: events.TicketRef{ID: created.Ticket.ID}})
	require.Eventually(t, replicaIs(h, created.ID, 1, events.StatusCancelled), testenv.Wait, testenv.Tick)

	res := h.Pay("buyer", created.ID, "tok_visa")
	assert.Equal(t, http.StatusConflict, res.Status, res.Raw)
	assert.False(t, h.HasCharge(created.ID))
	assert.Empty(t, h.Stripe.Requests("/v1/"), "Stripe is not called")
	c := h.Charge(created.ID)
	assert.True(t, c.CancelSeen, "the cancellation is recorded where a claim would meet it")
	assert.False(t, c.RefundDue, "and nothing is owed")
}

// A stale order:cancelled (the replica has the order complete at that
// version) records nothing on the charge: only a cancelled order is refunded.
func TestAStaleCancellationOfAPaidOrderRefundsNothing(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	created := apptest.OrderCreated("buyer", 2000, time.Hour)
	h.Publish(created)
	require.Eventually(t, replicaIs(h, created.ID, 0, events.StatusCreated), testenv.Wait, testenv.Tick)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", created.ID, "tok_visa").Status)
	h.Publish(events.OrderCompleted{ID: created.ID, Version: 1, Ticket: events.TicketRef{ID: created.Ticket.ID}})
	require.Eventually(t, replicaIs(h, created.ID, 1, events.StatusComplete), testenv.Wait, testenv.Tick)

	h.Publish(events.OrderCancelled{ID: created.ID, Version: 1, Ticket: events.TicketRef{ID: created.Ticket.ID}})
	sentinel := apptest.OrderCreated("buyer", 2000, time.Hour)
	h.Publish(sentinel)
	h.Publish(events.OrderCancelled{ID: sentinel.ID, Version: 1, Ticket: events.TicketRef{ID: sentinel.Ticket.ID}})
	require.Eventually(t, func() bool { return h.HasAnyCharge(sentinel.ID) && h.Charge(sentinel.ID).CancelSeen }, testenv.Wait, testenv.Tick)

	c := h.Charge(created.ID)
	assert.False(t, c.CancelSeen)
	assert.False(t, c.RefundDue)
	assert.Empty(t, h.Stripe.Requests("/v1/refunds"))
}
