package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

func newOrder() order.Order {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return order.New("o1", "buyer", order.Ticket{ID: "t1", Title: "Concert", Price: 2050}, 3, now, 15*time.Minute)
}

func TestNewRecordsOrderCreated(t *testing.T) {
	o := newOrder()
	assert.Equal(t, events.StatusCreated, o.Status)
	assert.Equal(t, time.Date(2026, 1, 2, 3, 19, 5, 0, time.UTC), o.ExpiresAt)
	assert.Equal(t, int64(0), o.Version)
	require.Len(t, o.Events, 1)
	assert.Equal(t, events.OrderCreated{
		ID: "o1", Version: 0, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: o.ExpiresAt,
		Ticket: events.OrderTicket{ID: "t1", Price: 2050},
	}, o.Events[0])
}

func TestCancelOnceAndNeverAfterCompletion(t *testing.T) {
	o := newOrder()
	o.Events = nil
	require.NoError(t, o.Cancel())
	require.NoError(t, o.Cancel())
	assert.Equal(t, events.StatusCancelled, o.Status)
	assert.Equal(t, int64(1), o.Version)
	assert.Equal(t, []events.Payload{events.OrderCancelled{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}}}, o.Events)
	assert.ErrorIs(t, o.Complete("p1"), order.ErrCancelled)

	o = newOrder()
	require.NoError(t, o.Complete("p1"))
	assert.ErrorIs(t, o.Cancel(), order.ErrComplete)
	assert.Equal(t, events.StatusComplete, o.Status)
}

func TestCompleteOnce(t *testing.T) {
	o := newOrder()
	o.Events = nil
	require.NoError(t, o.Complete("p1"))
	require.NoError(t, o.Complete("p1"))
	assert.Equal(t, int64(1), o.Version)
	assert.Equal(t, "p1", o.PaymentID)
	assert.Equal(t, []events.Payload{events.OrderCompleted{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}}}, o.Events)
}

func TestOnlyTheBuyerOwnsAnOrder(t *testing.T) {
	o := newOrder()
	assert.NoError(t, o.CheckOwner("buyer"))
	assert.ErrorIs(t, o.CheckOwner("someone"), order.ErrNotOwner)
}
