package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/tickets/internal/store"
	"ticketing.dev/tickets/internal/ticket"
)

// stepper runs one store call a database step at a time, when told to.
type stepper struct {
	name string
	at   chan string // the step reached; closed when the call has returned
	next chan struct{}
	err  error
}

func startStepper(s *store.Tickets, name string, call func() error) *stepper {
	st := &stepper{name: name, at: make(chan string), next: make(chan struct{})}
	store.BetweenSteps(s, func(step string) { st.at <- step; <-st.next })
	go func() {
		defer close(st.at)
		st.err = call()
	}()
	return st
}

// interleave runs the calls one step at a time: at each turn the choice from
// prefix (an index among the calls still running), or the first one once
// prefix is used up. It returns the steps in the order they ran, the choice
// made at each turn and how many calls could have gone at that turn.
func interleave(prefix []int, calls ...*stepper) (trace []string, choices, widths []int) {
	reached := make([]string, len(calls))
	running := make([]bool, len(calls))
	for i, c := range calls {
		reached[i], running[i] = <-c.at
	}
	for turn := 0; ; turn++ {
		var live []int
		for i := range calls {
			if running[i] {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return trace, choices, widths
		}
		choice := 0
		if turn < len(prefix) {
			choice = prefix[turn]
		}
		choices, widths = append(choices, choice), append(widths, len(live))
		c := live[choice]
		trace = append(trace, calls[c].name+" "+reached[c])
		calls[c].next <- struct{}{}
		reached[c], running[c] = <-calls[c].at
	}
}

// An order's order:created and order:cancelled are handled in every possible
// interleaving of their database steps (including a hold written between
// the other's read and write, which the version check turns into a retry):
// each ends with the ticket for sale, and the order:created delivered again
// afterwards does not lock it.
func TestEveryInterleavingOfAnOrdersCreatedAndCancelledEndsReleased(t *testing.T) {
	ctx := testenv.Context(t)
	db := testenv.NewDatabase(t)
	check := store.New(db)

	pending := [][]int{nil}
	traces := map[string]bool{}
	for run := 0; len(pending) > 0; run++ {
		require.Less(t, run, 2000, "the interleavings must be finite")
		prefix := pending[len(pending)-1]
		pending = pending[:len(pending)-1]

		tk := ticket.New("seller", "Concert", 1000, time.Now())
		require.NoError(t, check.Create(ctx, &tk))
		orderID := fmt.Sprintf("order-%d", run)
		created, cancelled := store.New(db), store.New(db)
		reserve := startStepper(created, "created:", func() error { _, err := created.Reserve(ctx, tk.ID, orderID); return err })
		release := startStepper(cancelled, "cancelled:", func() error { _, err := cancelled.Release(ctx, tk.ID, orderID); return err })
		trace, choices, widths := interleave(prefix, reserve, release)
		for turn := len(prefix); turn < len(choices); turn++ {
			for alt := 1; alt < widths[turn]; alt++ {
				pending = append(pending, append(slices.Clone(choices[:turn]), alt))
			}
		}
		traces[fmt.Sprint(trace)] = true

		require.NoError(t, reserve.err, "%v", trace)
		require.NoError(t, release.err, "%v", trace)
		got, err := check.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.True(t, got.ForSale(), "a closed order holds the ticket after %v", trace)

		queued, err := check.Reserve(ctx, tk.ID, orderID)
		require.NoError(t, err)
		assert.False(t, queued, "a redelivered order:created writes nothing")
		again, err := check.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.True(t, again.ForSale())
		assert.Equal(t, got.Version, again.Version)
	}
	t.Logf("%d interleavings, each ended released", len(traces))
	// Reserve has at least four steps and Release three: C(7,3) orders at least.
	assert.GreaterOrEqual(t, len(traces), 35)
}

// A delivery of order:created that wrote its hold after the order was closed
// and died before it could look again (an outage, a crash) left the ticket
// locked; its redelivery sees the order closed and frees the ticket.
func TestARedeliveredOrderCreatedUndoesAHoldItsFailedRunLeft(t *testing.T) {
	ctx := testenv.Context(t)
	tickets := store.New(testenv.NewDatabase(t))
	tk := ticket.New("seller", "Concert", 1000, time.Now())
	require.NoError(t, tickets.Create(ctx, &tk))

	_, err := tickets.Release(ctx, tk.ID, "a")
	require.NoError(t, err)
	_, err = tickets.Update(ctx, tk.ID, func(t *ticket.Ticket) error { return t.Reserve("a") })
	require.NoError(t, err)

	queued, err := tickets.Reserve(ctx, tk.ID, "a")
	require.NoError(t, err)
	assert.True(t, queued, "the release is published")
	got, err := tickets.Get(ctx, tk.ID)
	require.NoError(t, err)
	assert.True(t, got.ForSale())
}

// The same, with no steering: an order's order:created twice and its
// order:cancelled, all at once, many times over.
func TestConcurrentCreatedRedeliveryAndCancelledEndReleased(t *testing.T) {
	ctx := testenv.Context(t)
	tickets := store.New(testenv.NewDatabase(t))
	for round := range 30 {
		tk := ticket.New("seller", "Concert", 1000, time.Now())
		require.NoError(t, tickets.Create(ctx, &tk))
		orderID := fmt.Sprintf("order-%d", round)
		var wg sync.WaitGroup
		for _, call := range []func() (bool, error){
			func() (bool, error) { return tickets.Reserve(ctx, tk.ID, orderID) },
			func() (bool, error) { return tickets.Reserve(ctx, tk.ID, orderID) },
			func() (bool, error) { return tickets.Release(ctx, tk.ID, orderID) },
		} {
			wg.Go(func() {
				_, err := call()
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		got, err := tickets.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.True(t, got.ForSale(), "round %d", round)
	}
}
