package store_test

import (
	"errors"
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

func TestOfManyConcurrentClaimsExactlyOneWins(t *testing.T) {
	ctx := testenv.Context(t)
	charges := store.NewCharges(testenv.NewDatabase(t))
	require.NoError(t, charges.EnsureIndexes(ctx))
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
	ctx := testenv.Context(t)
	charges := store.NewCharges(testenv.NewDatabase(t))
	require.NoError(t, charges.EnsureIndexes(ctx))
	now := time.Now()
	want := payment.Charge{OrderID: "o1", UserID: "u", Amount: 100, Token: "tok_a", LeaseUntil: now.Add(time.Minute)}

	first, err := charges.Claim(ctx, want, now)
	require.NoError(t, err)
	assert.Equal(t, 1, first.Attempt)
	assert.Equal(t, payment.StatusCreated, first.Status)

	failed, err := charges.Failed(ctx, first, "declined", now)
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

	_, err = charges.Failed(ctx, resumed, "too late", now)
	assert.Error(t, err, "a decided attempt cannot be decided again")

	require.NoError(t, charges.MarkRefundDue(ctx, "o1", now))
	ids, err := charges.Unsettled(ctx, now)
	require.NoError(t, err)
	assert.Equal(t, []string{"o1"}, ids)
	refunded, err := charges.Refunded(ctx, "o1", "re_1", now)
	require.NoError(t, err)
	assert.Equal(t, "re_1", refunded.StripeRefundID)
	assert.False(t, refunded.RefundDue)
	require.NoError(t, charges.MarkRefundDue(ctx, "o1", now))
	c, err := charges.Get(ctx, "o1")
	require.NoError(t, err)
	assert.False(t, c.RefundDue, "a refunded charge is never due again")
	ids, err = charges.Unsettled(ctx, now)
	require.NoError(t, err)
	assert.Empty(t, ids)
}

func TestTheReplicaAppliesVersionsInOrder(t *testing.T) {
	ctx := testenv.Context(t)
	orders := store.NewOrders(testenv.NewDatabase(t))

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
