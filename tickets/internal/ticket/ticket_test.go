package ticket_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/money"
	"ticketing.dev/tickets/internal/ticket"
)

func TestPriceRules(t *testing.T) {
	cases := map[money.Price]error{
		ticket.MinPrice:     nil,
		2050:                nil,
		money.MaxPrice:      nil,
		ticket.MinPrice - 1: ticket.ErrPriceTooLow,
		0:                   ticket.ErrPriceTooLow,
		-100:                ticket.ErrPriceTooLow,
		money.MaxPrice + 1:  ticket.ErrPriceTooHigh,
	}
	for price, want := range cases {
		assert.Equal(t, want, ticket.ValidatePrice(price), "price %s", price)
	}
	assert.Equal(t, "must be at most 999999.99", ticket.ErrPriceTooHigh.Error())
	assert.Equal(t, "must be at least 0.5", ticket.ErrPriceTooLow.Error())
}

func TestEditNeedsTheSellerAndAFreeTicket(t *testing.T) {
	fresh := func() ticket.Ticket { return ticket.New("seller", "Concert", 1000, time.Now()) }

	tk := fresh()
	require.NoError(t, tk.Edit("seller", "Concert (row 2)", 1200))
	assert.Equal(t, int64(1), tk.Version)
	assert.Equal(t, money.Price(1200), tk.Price)

	tk = fresh()
	assert.ErrorIs(t, tk.Edit("someone else", "x", 1), ticket.ErrNotOwner)

	tk = fresh()
	require.NoError(t, tk.Reserve("order-1"))
	assert.ErrorIs(t, tk.Edit("seller", "x", 1), ticket.ErrReserved)

	tk = fresh()
	require.NoError(t, tk.MarkSold("order-1"))
	assert.ErrorIs(t, tk.Edit("seller", "x", 1), ticket.ErrSold)
	assert.Equal(t, "Concert", tk.Title, "a refused edit changes nothing")
}

func TestAStaleCancellationDoesNotRelease(t *testing.T) {
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(t, tk.Reserve("b"))
	tk.Release("a")
	assert.Equal(t, "b", tk.OrderID)
	assert.True(t, tk.Reserved())
	assert.Equal(t, int64(1), tk.Version, "nor is it a change to publish")
}

// event is one order event as tickets receives it.
type event struct {
	kind    string // created, cancelled, completed
	orderID string
}

func (e event) String() string { return e.kind + "(" + e.orderID + ")" }

// apply hands e to the ticket the way the store does: closed holds the orders
// whose order:cancelled was seen, which is recorded before the release and
// consulted before a reservation (the store's interleavings are its own tests).
func apply(tk *ticket.Ticket, closed map[string]bool, e event) error {
	switch e.kind {
	case "created":
		if closed[e.orderID] {
			return nil
		}
		return tk.Reserve(e.orderID)
	case "cancelled":
		closed[e.orderID] = true
		tk.Release(e.orderID)
		return nil
	case "completed":
		return tk.MarkSold(e.orderID)
	}
	panic(e.kind)
}

func permutations(evs []event) [][]event {
	if len(evs) <= 1 {
		return [][]event{append([]event(nil), evs...)}
	}
	var out [][]event
	for i := range evs {
		rest := append(append([]event(nil), evs[:i]...), evs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]event{evs[i]}, p...))
		}
	}
	return out
}

// deliver hands events over in the given order the way the bus does: an event
// that must wait (ErrHeldByAnotherOrder) comes back later; every event is
// also delivered a second time, as redeliveries do.
func deliver(t *testing.T, order []event) ticket.Ticket {
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	closed := map[string]bool{}
	queue := append([]event(nil), order...)
	queue = append(queue, order...)
	for steps := 0; len(queue) > 0; steps++ {
		require.Less(t, steps, 100, "delivery must converge: %v", order)
		e := queue[0]
		queue = queue[1:]
		before := tk.Version
		err := apply(&tk, closed, e)
		if errors.Is(err, ticket.ErrHeldByAnotherOrder) {
			assert.Equal(t, before, tk.Version, "waiting changes nothing")
			queue = append(queue, e)
			continue
		}
		require.NoError(t, err, "%v in %v", e, order)
	}
	return tk
}

// Orders publishes a ticket's order history in this order, but tickets may
// receive it in any order, each event possibly twice. Every delivery order must
// end in the state the history means.
func TestEveryDeliveryOrderEndsInTheSameState(t *testing.T) {
	a, b := "order-a", "order-b"
	histories := []struct {
		events   []event
		orderID  string
		sold     bool
		reserved bool
	}{
		{[]event{{"created", a}}, a, false, true},
		{[]event{{"created", a}, {"cancelled", a}}, "", false, false},
		{[]event{{"created", a}, {"completed", a}}, a, true, false},
		{[]event{{"created", a}, {"cancelled", a}, {"created", b}}, b, false, true},
		{[]event{{"created", a}, {"cancelled", a}, {"created", b}, {"completed", b}}, b, true, false},
		{[]event{{"created", a}, {"cancelled", a}, {"created", b}, {"cancelled", b}}, "", false, false},
	}
	for _, h := range histories {
		t.Run(fmt.Sprint(h.events), func(t *testing.T) {
			for _, order := range permutations(h.events) {
				tk := deliver(t, order)
				assert.Equal(t, h.orderID, tk.OrderID, "delivered as %v", order)
				assert.Equal(t, h.sold, tk.Sold, "delivered as %v", order)
				assert.Equal(t, h.reserved, tk.Reserved(), "delivered as %v", order)
			}
		})
	}
}

func TestRepeatsChangeNothing(t *testing.T) {
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(t, tk.Reserve("a"))
	require.NoError(t, tk.Reserve("a"))
	assert.Equal(t, int64(1), tk.Version)
	tk.Release("a")
	tk.Release("a")
	assert.Equal(t, int64(2), tk.Version)
	require.NoError(t, tk.Reserve("b"))
	require.NoError(t, tk.MarkSold("b"))
	require.NoError(t, tk.MarkSold("b"))
	assert.Equal(t, int64(4), tk.Version)
	assert.ErrorIs(t, tk.MarkSold("c"), ticket.ErrSoldToAnotherOrder)
}
