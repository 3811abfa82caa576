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

// claim is a new claim of order's charge, for a minute, with an hour to pay.
func claim(ctx context.Context, charges *store.Charges, order string, now time.Time) (payment.Charge, error) {
	return charges.Claim(ctx, want(order, now), now)
}

func want(order string, now time.Time) payment.Charge {
	return payment.Charge{OrderID: order, UserID: "u", Amount: 100, Currency: "usd", LeaseUntil: now.Add(time.Minute), SettleAfter: now.Add(time.Hour)}
}

// paid claims, binds and pays order's charge with intent "pi_<order>".
func paid(ctx context.Context, t *testing.T, charges *store.Charges, order string, now time.Time) payment.Charge {
	c, err := claim(ctx, charges, order, now)
	require.NoError(t, err)
	_, err = charges.BindIntent(ctx, c, "pi_"+order, now)
	require.NoError(t, err)
	c, first, err := charges.Succeeded(ctx, order, "pi_"+order, now)
	require.NoError(t, err)
	require.True(t, first)
	return c
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
			_, err := charges.Claim(ctx, want("o1", now), now)
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

func TestAnAttemptMovesOnOnlyOnceItsIntentIsKnownNotToHaveCharged(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	c, err := claim(ctx, charges, "o1", now)
	require.NoError(t, err)
	assert.Equal(t, 1, c.Attempt)
	_, err = claim(ctx, charges, "o1", now)
	assert.ErrorIs(t, err, payment.ErrInProgress, "creating its intent")

	c, err = charges.BindIntent(ctx, c, "pi_1", now)
	require.NoError(t, err)
	again, err := claim(ctx, charges, "o1", now)
	require.NoError(t, err, "an open intent is answered as it is")
	assert.Equal(t, "pi_1", again.IntentID)
	assert.Equal(t, 1, again.Attempt)

	_, ok, err := charges.Lease(ctx, "o1", now, now.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "the claim's lease is live")
	require.NoError(t, charges.Release(ctx, c))
	leased, ok, err := charges.Lease(ctx, "o1", now, now.Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, ok)

	failed, err := charges.Failed(ctx, leased, "pi_1", "Your card was declined.", true, now)
	require.NoError(t, err)
	assert.Equal(t, payment.StatusFailed, failed.Status)
	twice, err := charges.Failed(ctx, leased, "pi_1", "Your card was declined.", true, now)
	require.NoError(t, err)
	assert.Equal(t, 1, twice.Declines, "the webhook after the answer counts nothing more")

	next, err := claim(ctx, charges, "o1", now)
	require.NoError(t, err)
	assert.Equal(t, 2, next.Attempt)
	assert.Empty(t, next.IntentID, "a new attempt creates its own intent")
	assert.Equal(t, payment.IntentKey("o1", 2), next.IntentKey())
}

func TestAnAttemptAbandonedBeforeItsIntentWasStoredIsTakenOver(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	_, err := claim(ctx, charges, "o1", now)
	require.NoError(t, err)
	later := now.Add(2 * time.Minute)
	next, err := claim(ctx, charges, "o1", later)
	require.NoError(t, err, "never confirmed, so it charged nothing")
	assert.Equal(t, 2, next.Attempt)
}

func TestTheFirstIntentToSucceedIsThePaymentAndAnyOtherAStray(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	c := paid(ctx, t, charges, "o1", now)
	assert.Equal(t, payment.StatusCompleted, c.Status)
	assert.Equal(t, "pi_o1", c.StripeID)

	same, first, err := charges.Succeeded(ctx, "o1", "pi_o1", now)
	require.NoError(t, err)
	assert.False(t, first, "the same intent again records nothing")
	assert.Equal(t, c.ID, same.ID)
	_, _, err = charges.Succeeded(ctx, "o1", "pi_other", now)
	assert.ErrorIs(t, err, payment.ErrAlreadyPaid)
	_, _, err = charges.Succeeded(ctx, "nobody", "pi_x", now)
	assert.ErrorIs(t, err, payment.ErrChargeNotFound)
}

func TestACancellationMakesTheRefundDueWhicheverLandsSecond(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	paid(ctx, t, charges, "after", now)
	c, err := charges.MarkCancelled(ctx, "after", now)
	require.NoError(t, err)
	assert.True(t, c.RefundDue)

	open, err := claim(ctx, charges, "before", now)
	require.NoError(t, err)
	_, err = charges.BindIntent(ctx, open, "pi_before", now)
	require.NoError(t, err)
	_, err = charges.MarkCancelled(ctx, "before", now)
	require.NoError(t, err)
	c, _, err = charges.Succeeded(ctx, "before", "pi_before", now)
	require.NoError(t, err)
	assert.True(t, c.RefundDue, "the success keeps the refund due")

	c, err = charges.Refunded(ctx, "before", "pi_before", "re_1", now)
	require.NoError(t, err)
	assert.False(t, c.RefundDue)
	c, err = charges.Refunded(ctx, "before", "pi_before", "re_1", now)
	require.NoError(t, err, "recorded once; the same refund again is no error")
	assert.Equal(t, "re_1", c.StripeRefundID)

	_, err = charges.MarkCancelled(ctx, "never", now)
	require.NoError(t, err)
	_, err = claim(ctx, charges, "never", now)
	assert.ErrorIs(t, err, payment.ErrCancelled, "a cancellation before any attempt keeps every claim off")
}

func TestLapsedListsOpenAttemptsPastTheirDeadline(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	c, err := claim(ctx, charges, "o1", now)
	require.NoError(t, err)
	require.NoError(t, charges.Release(ctx, c))
	p, err := charges.Lapsed(ctx, now, "", 10)
	require.NoError(t, err)
	assert.Empty(t, p.OrderIDs, "before the order's deadline")
	p, err = charges.Lapsed(ctx, now.Add(2*time.Hour), "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"o1"}, p.OrderIDs)
}

func TestAnEventIsRecordedOnce(t *testing.T) {
	ctx := testenv.Context(t)
	s := store.New(testenv.NewDatabase(t))
	seen, err := s.Events.Seen(ctx, "evt_1")
	require.NoError(t, err)
	assert.False(t, seen)
	require.NoError(t, s.Events.Record(ctx, "evt_1", "payment_intent.succeeded", time.Now()))
	require.NoError(t, s.Events.Record(ctx, "evt_1", "payment_intent.succeeded", time.Now()), "two deliveries applied at once")
	seen, err = s.Events.Seen(ctx, "evt_1")
	require.NoError(t, err)
	assert.True(t, seen)
	n, err := s.Outbox().Collection().Database().Collection("webhook_events").CountDocuments(ctx, map[string]any{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

// The refunder reads due refunds in bounded batches, and its cursor moves
// past a charge that stays due.
func TestDueRefundsArePagedInBoundedBatches(t *testing.T) {
	ctx, charges := newCharges(t)
	now := time.Now()
	var want []string
	for i := range 7 {
		order := fmt.Sprintf("o%d", i)
		paid(ctx, t, charges, order, now)
		if i%2 == 0 {
			_, err := charges.MarkCancelled(ctx, order, now)
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
