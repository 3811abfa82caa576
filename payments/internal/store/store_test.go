package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newCharges(t *testing.T) (context.Context, *store.Charges) {
	ctx := testenv.Context(t)
	s := store.New(testenv.NewDatabase(t))
	require.NoError(t, s.EnsureIndexes(ctx))
	return ctx, s.Charges
}

// claim is a new claim of order's charge, for a minute.
func claim(ctx context.Context, charges *store.Charges, order string, now time.Time) (payment.Charge, error) {
	return charges.Claim(ctx, payment.Charge{OrderID: order, UserID: "u", Amount: 100, Token: "tok", LeaseUntil: now.Add(time.Minute)}, now)
}

func TestOfManyConcurrentClaimsExactlyOneWins(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()

	var wins, busy, other int
	var mu sync.Mutex
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-gate
			_, err := charges.Claim(ctx, payment.Charge{OrderID: "o1", UserID: "u", Amount: 100, Token: "tok", LeaseUntil: now.Add(time.Minute)}, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, payment.ErrInProgress):
				busy++
			default:
				other++
				t.Log(err)
			}
		})
	}
	close(gate)
	wg.Wait()
	assert.Equal(t, []int{1, 19, 0}, []int{wins, busy, other})
}

func TestAClaimMovesThroughAttempts(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	want := payment.Charge{OrderID: "o1", UserID: "u", Amount: 100, Token: "tok_a", LeaseUntil: now.Add(time.Minute)}

	first, err := charges.Claim(ctx, want, now)
	require.NoError(t, err)
	assert.Equal(t, 1, first.Attempt)
	assert.Equal(t, payment.StatusCreated, first.Status)

	failed, err := charges.Failed(ctx, first, "declined", true, now)
	require.NoError(t, err)
	assert.Equal(t, payment.StatusFailed, failed.Status)
	assert.Empty(t, failed.Token)

	want.Token = "tok_b"
	second, err := charges.Claim(ctx, want, now)
	require.NoError(t, err)
	assert.Equal(t, 2, second.Attempt, "a new card after a failure is a new attempt")
	assert.Equal(t, "tok_b", second.Token)
	assert.Equal(t, first.ID, second.ID, "one charge per order, across attempts")

	require.NoError(t, charges.Release(ctx, second))
	want.Token = "tok_c"
	resumed, err := charges.Claim(ctx, want, now)
	require.NoError(t, err)
	assert.Equal(t, 2, resumed.Attempt, "an open attempt is resumed, not replaced")
	assert.Equal(t, "tok_b", resumed.Token, "with the card it was sent with")

	done, err := charges.Succeeded(ctx, resumed, "ch_1", now)
	require.NoError(t, err)
	assert.Equal(t, payment.StatusCompleted, done.Status)
	_, err = charges.Claim(ctx, want, now)
	assert.ErrorIs(t, err, payment.ErrAlreadyPaid)

	_, err = charges.Failed(ctx, resumed, "too late", false, now)
	assert.Error(t, err, "a decided attempt cannot be decided again")

	marked, err := charges.MarkCancelled(ctx, "o1", now)
	require.NoError(t, err)
	assert.True(t, marked.RefundDue, "a cancellation after the charge completed makes its refund due")
	due, err := charges.DueRefunds(ctx, "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"o1"}, due.OrderIDs)
	refunded, err := charges.Refunded(ctx, "o1", "re_1", now)
	require.NoError(t, err)
	assert.Equal(t, "re_1", refunded.StripeRefundID)
	assert.False(t, refunded.RefundDue)
	again, err := charges.Refunded(ctx, "o1", "re_1", now.Add(time.Second))
	require.NoError(t, err, "a second refunder with the same refund changes nothing")
	assert.Equal(t, refunded.UpdatedAt, again.UpdatedAt)
	_, err = charges.Refunded(ctx, "o1", "re_2", now)
	assert.Error(t, err, "a refund is recorded once")
	_, err = charges.MarkCancelled(ctx, "o1", now)
	require.NoError(t, err)
	c, err := charges.Get(ctx, "o1")
	require.NoError(t, err)
	assert.False(t, c.RefundDue, "a refunded charge is never due again")
	assert.Equal(t, "re_1", c.StripeRefundID)
	due, err = charges.DueRefunds(ctx, "", 10)
	require.NoError(t, err)
	assert.Empty(t, due.OrderIDs)
}

// A completion tells the store's outbox that it queued payment:created, so a
// relay that would otherwise look only hourly publishes it at once — also
// when the write landed but its answer was lost on the way back.
func TestACompletionWakesTheRelay(t *testing.T) {
	ctx := testenv.Context(t)
	uri, proxy := testenv.ProxiedDatabaseURI(t)
	client, db, err := mongox.Connect(context.Background(), uri, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s := store.New(db)
	require.NoError(t, s.EnsureIndexes(ctx))
	b := testenv.NewBus(t, testenv.NATSURL(t))
	paid := testenv.Record(t, b, events.SubjectPaymentCreated)
	testenv.Background(t, outbox.NewRelay(b, testenv.Logger(t), s.Outbox()).WithInterval(time.Hour).Run)
	published := func(order string) func() bool {
		return func() bool {
			return len(testenv.Payloads(t, paid, func(e events.PaymentCreated) bool { return e.OrderID == order })) == 1
		}
	}
	now := time.Now()

	c, err := claim(ctx, s.Charges, "answered", now)
	require.NoError(t, err)
	_, err = s.Charges.Succeeded(ctx, c, "ch_1", now)
	require.NoError(t, err)
	require.Eventually(t, published("answered"), 10*time.Second, 20*time.Millisecond)

	c, err = claim(ctx, s.Charges, "lost", now)
	require.NoError(t, err)
	proxy.LoseAnswerOn("findAndModify", "charges", 1)
	_, err = s.Charges.Succeeded(ctx, c, "ch_2", now)
	require.Error(t, err)
	require.Equal(t, 1, proxy.Lost())
	require.Eventually(t, published("lost"), 10*time.Second, 20*time.Millisecond)
}

// Whichever of "charged" and "cancellation seen" is written second, the
// charge ends completed with its refund due.
func TestACancellationDuringAChargeMakesTheRefundDueWhicheverLandsSecond(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	claimed := func(order string) payment.Charge {
		c, err := claim(ctx, charges, order, now)
		require.NoError(t, err)
		return c
	}

	// Cancellation first, while the attempt is in flight.
	inFlight := claimed("first")
	marked, err := charges.MarkCancelled(ctx, "first", now)
	require.NoError(t, err)
	assert.True(t, marked.CancelSeen)
	assert.True(t, marked.RefundDue, "on the refunder's list, whatever the charge is doing")
	assert.Equal(t, payment.StatusCreated, marked.Status, "the attempt goes on")
	done, err := charges.Succeeded(ctx, inFlight, "ch_1", now)
	require.NoError(t, err)
	assert.Equal(t, payment.StatusCompleted, done.Status)
	assert.True(t, done.RefundDue, "the completion lands second: it finds the refund due")

	// Charge first.
	paid := claimed("second")
	done, err = charges.Succeeded(ctx, paid, "ch_2", now)
	require.NoError(t, err)
	assert.False(t, done.RefundDue)
	marked, err = charges.MarkCancelled(ctx, "second", now)
	require.NoError(t, err)
	assert.True(t, marked.RefundDue, "the cancellation lands second: it makes the refund due")

	// A failed attempt owes nothing, and gets no next attempt.
	declined := claimed("third")
	_, err = charges.Failed(ctx, declined, "declined", true, now)
	require.NoError(t, err)
	_, err = charges.MarkCancelled(ctx, "third", now)
	require.NoError(t, err)
	_, err = charges.Claim(ctx, payment.Charge{OrderID: "third", UserID: "u", Amount: 100, Token: "tok_b", LeaseUntil: now.Add(time.Minute)}, now)
	assert.ErrorIs(t, err, payment.ErrCancelled)
	require.NoError(t, charges.NothingOwed(ctx, "third", now))
	require.NoError(t, charges.NothingOwed(ctx, "first", now))

	due, err := charges.DueRefunds(ctx, "", 10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"first", "second"}, due.OrderIDs, "a completed charge stays due until its refund is recorded")
}

// A cancellation that arrives before anyone claimed the charge is recorded
// on a charge with no attempt, which keeps every later claim off: the buyer
// who read the order as open a moment earlier cannot charge it.
func TestACancellationBeforeTheClaimKeepsTheClaimOff(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()

	marked, err := charges.MarkCancelled(ctx, "o1", now)
	require.NoError(t, err)
	assert.True(t, marked.CancelSeen)
	assert.False(t, marked.Attempted())
	assert.False(t, marked.RefundDue, "nothing can be charged after it")
	again, err := charges.MarkCancelled(ctx, "o1", now)
	require.NoError(t, err, "a redelivery records it again")
	assert.False(t, again.RefundDue)

	_, err = charges.Claim(ctx, payment.Charge{OrderID: "o1", UserID: "u", Amount: 100, Token: "tok", LeaseUntil: now.Add(time.Minute)}, now)
	assert.ErrorIs(t, err, payment.ErrCancelled)
	c, err := charges.Get(ctx, "o1")
	require.NoError(t, err)
	assert.False(t, c.Attempted())
}

// Cancellations racing completions of the same charges: every charge ends
// completed with its refund due, whatever the interleaving.
func TestConcurrentCancellationsAndCompletionsAlwaysLeaveTheRefundDue(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		order := fmt.Sprintf("o%02d", i)
		c, err := claim(ctx, charges, order, now)
		require.NoError(t, err)
		gate := make(chan struct{})
		wg.Go(func() { <-gate; _, err := charges.Succeeded(ctx, c, "ch_"+order, now); assert.NoError(t, err) })
		wg.Go(func() { <-gate; _, err := charges.MarkCancelled(ctx, order, now); assert.NoError(t, err) })
		close(gate)
	}
	wg.Wait()
	due, err := charges.DueRefunds(ctx, "", 2*n)
	require.NoError(t, err)
	assert.Len(t, due.OrderIDs, n)
}

// A claim racing a cancellation of the same order: either the cancellation
// came first and the claim is refused, or the claim won and its charge is on
// the refunder's list. Never a charge that can go on without the
// cancellation recorded.
func TestAClaimRacingACancellationNeverMissesIt(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	const n = 20
	claimed := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		order := fmt.Sprintf("o%02d", i)
		gate := make(chan struct{})
		wg.Go(func() {
			<-gate
			_, err := claim(ctx, charges, order, now)
			if err == nil {
				claimed[i] = true
				return
			}
			assert.ErrorIs(t, err, payment.ErrCancelled)
		})
		wg.Go(func() { <-gate; _, err := charges.MarkCancelled(ctx, order, now); assert.NoError(t, err) })
		close(gate)
	}
	wg.Wait()
	for i := range n {
		c, err := charges.Get(ctx, fmt.Sprintf("o%02d", i))
		require.NoError(t, err)
		assert.True(t, c.CancelSeen)
		assert.Equal(t, claimed[i], c.Attempted())
		assert.Equal(t, claimed[i], c.RefundDue, "a claimed charge is on the refunder's list")
	}
}

// The refunder reads due refunds in bounded batches, and its cursor moves
// past a charge that stays due.
func TestDueRefundsArePagedInBoundedBatches(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	var want []string
	for i := range 7 {
		order := fmt.Sprintf("o%d", i)
		c, err := claim(ctx, charges, order, now)
		require.NoError(t, err)
		_, err = charges.Succeeded(ctx, c, "ch_"+order, now)
		require.NoError(t, err)
		if i%2 == 0 {
			_, err = charges.MarkCancelled(ctx, order, now)
			require.NoError(t, err)
			want = append(want, order)
		}
	}
	var got []string
	pages := 0
	cursor := ""
	for {
		p, err := charges.DueRefunds(ctx, cursor, 3)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(p.OrderIDs), 3)
		got = append(got, p.OrderIDs...)
		pages++
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 2, pages)
}

func TestTheReplicaAppliesVersionsInOrder(t *testing.T) {
	ctx := testenv.Context(t)
	orders := store.New(testenv.NewDatabase(t)).Orders

	err := orders.ApplyOrderStatus(ctx, "o1", 1, events.StatusCancelled)
	assert.ErrorIs(t, err, payment.ErrReplicaBehind, "before the order itself")

	require.NoError(t, orders.ApplyOrderCreated(ctx, events.OrderCreated{ID: "o1", Version: 0, Status: events.StatusCreated, UserID: "u", Ticket: events.OrderTicket{Price: 100}}))
	err = orders.ApplyOrderStatus(ctx, "o1", 2, events.StatusComplete)
	assert.ErrorIs(t, err, payment.ErrReplicaBehind, "a gap")
	require.NoError(t, orders.ApplyOrderStatus(ctx, "o1", 1, events.StatusCancelled))
	require.NoError(t, orders.ApplyOrderStatus(ctx, "o1", 1, events.StatusComplete), "a version already applied is a no-op")
	require.NoError(t, orders.ApplyOrderCreated(ctx, events.OrderCreated{ID: "o1", Version: 0, Status: events.StatusCreated, UserID: "u"}))

	o, err := orders.Get(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, int64(1), o.Version)
	assert.Equal(t, events.StatusCancelled, o.Status)
}
