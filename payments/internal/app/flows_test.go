package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/stripetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func cancel(h *apptest.Harness, orderID string) {
	h.Publish(events.OrderCancelled{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: "t"}})
}

func refunded(h *apptest.Harness, orderID string) func() bool {
	return func() bool { return h.Charge(orderID).StripeRefundID != "" }
}

// cancelUntilRefunded cancels the order and returns its charge once the
// refund is recorded.
func cancelUntilRefunded(t *testing.T, h *apptest.Harness, orderID string) payment.Charge {
	t.Helper()
	cancel(h, orderID)
	require.Eventually(t, refunded(h, orderID), testenv.Wait, testenv.Tick)
	return h.Charge(orderID)
}

// Late payment, one ordering: the order is cancelled after the charge went
// through. order:cancelled refunds it.
func TestAChargeForAnOrderCancelledAfterwardsIsRefunded(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.PaidOrder("buyer", 2000)

	c := cancelUntilRefunded(t, h, id)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	assert.Equal(t, payment.StatusCompleted, c.Status, "the charge happened; the refund is recorded on it")
	assert.False(t, c.RefundDue)
	refunds := h.Stripe.Requests("/v1/refunds")
	require.Len(t, refunds, 1)
	assert.Equal(t, "ch_fake_1", refunds[0].Form.Get("charge"))
	assert.Equal(t, "refund-"+id, refunds[0].IdempotencyKey)
	o, err := h.Replica(id)
	require.NoError(t, err)
	assert.Equal(t, events.StatusCancelled, o.Status, "the order stays cancelled")

	// The same cancellation again (a redelivery) refunds nothing more.
	cancel(h, id)
	cancelUntilRefunded(t, h, h.PaidOrder("buyer", 2000))
	assert.Equal(t, 2, h.Stripe.RefundsMade())
}

func cancelSeen(h *apptest.Harness, orderID string) func() bool {
	return func() bool { return h.Charge(orderID).CancelSeen }
}

// cancelledWhileCharging starts paying for a new order with Stripe holding
// its answer, cancels the order once Stripe has the charge request, and
// returns once the cancellation is recorded on the charge. Closing hold lets
// Stripe charge and answer; the payment's answer arrives on answer.
func cancelledWhileCharging(t *testing.T, h *apptest.Harness) (id string, hold chan struct{}, answer <-chan apitest.Response) {
	t.Helper()
	id = h.Order("buyer", 2000, time.Hour)
	hold = make(chan struct{})
	h.Stripe.Next(stripetest.Held(hold))
	answer = h.PayAsync("buyer", id, "tok_visa")
	require.Eventually(t, func() bool { return len(h.Stripe.Requests("/v1/charges")) == 1 }, testenv.Wait, testenv.Tick)
	cancel(h, id)
	require.Eventually(t, cancelSeen(h, id), testenv.Wait, testenv.Tick)
	return id, hold, answer
}

// Late payment, the other ordering: the cancellation arrives while Stripe is
// charging. It is recorded on the charge; the write that records the charge
// finds it and makes the refund due, and the request refunds.
func TestAChargeForAnOrderCancelledMeanwhileIsRefunded(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id, hold, answer := cancelledWhileCharging(t, h)
	close(hold)

	res := <-answer
	require.Equal(t, http.StatusConflict, res.Status, res.Raw)
	assert.Equal(t, "Order was cancelled while it was being paid; the charge has been refunded", res.Message(t))
	c := h.Charge(id)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	assert.Equal(t, 1, h.Stripe.RefundsMade(), "refunded once, though both the request and the listener saw the cancellation")
}

func TestALatePaymentRefundThroughStripeMock(t *testing.T) {
	h := apptest.New(t, apptest.Options{StripeMock: true})
	id := h.PaidOrder("buyer", 2000)
	cancel(h, id)
	require.Eventually(t, refunded(h, id), testenv.Wait, testenv.Tick)
	assert.True(t, strings.HasPrefix(h.Charge(id).StripeRefundID, "re_"), h.Charge(id).StripeRefundID)
}

// A refund Stripe could not make stays due, and the refunder tries again by
// itself, under the same idempotency key.
func TestARefundThatFailedIsMadeByTheReconciler(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.PaidOrder("buyer", 2000)
	h.Stripe.NextRefund(stripetest.Unavailable())

	cancel(h, id)
	require.Eventually(t, refunded(h, id), testenv.Wait, testenv.Tick)
	c := h.Charge(id)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	assert.False(t, c.RefundDue)
	refunds := h.Stripe.Requests("/v1/refunds")
	require.Len(t, refunds, 2)
	assert.Equal(t, refunds[0].IdempotencyKey, refunds[1].IdempotencyKey, "one refund per order, however often it is tried")
}

// The must-hold: a cancellation during a charge ends refunded when the payer
// dies between the charge and its re-read. Here the write that records the
// charge reaches the database but its answer is lost (the fault proxy drops
// the connection), so the request fails and the process dies; a new payments
// process over the same database refunds.
func TestACancellationDuringAChargeEndsRefundedWhenThePayerLosesItsRecordAndDies(t *testing.T) {
	h := apptest.New(t, apptest.Options{FaultProxy: true})
	id, hold, answer := cancelledWhileCharging(t, h)
	// The process is dying: its refunder is gone, the request runs on.
	h.StopBackground()

	h.Proxy.LoseAnswer("findAndModify", 1)
	close(hold)
	res := <-answer
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	assert.Equal(t, 1, h.Proxy.Lost())
	c := h.Charge(id)
	assert.Equal(t, payment.StatusCompleted, c.Status, "the write landed")
	assert.True(t, c.RefundDue, "and it found the cancellation")
	assert.Empty(t, c.StripeRefundID, "the payer never heard back, so it did not refund")

	// The next process settles it in the pass it makes as it starts.
	apptest.New(t, apptest.Options{SameAs: h})
	c = h.Charge(id)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	assert.False(t, c.RefundDue)
	assert.Equal(t, 1, h.Stripe.ChargesMade())
	assert.Equal(t, 1, h.Stripe.RefundsMade())
}

// The same lost answer in a process that lives on: the request fails, and
// its refunder, woken by it, refunds at once.
func TestACancellationDuringAChargeEndsRefundedWhenThePayerLosesItsRecord(t *testing.T) {
	h := apptest.New(t, apptest.Options{FaultProxy: true})
	id, hold, answer := cancelledWhileCharging(t, h)

	h.Proxy.LoseAnswer("findAndModify", 1)
	close(hold)
	res := <-answer
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	require.Eventually(t, refunded(h, id), testenv.Wait, testenv.Tick)
	assert.Equal(t, 1, h.Stripe.ChargesMade())
	assert.Equal(t, 1, h.Stripe.RefundsMade())
}

// The same, when the process dies before it records anything: Stripe charged,
// the database was out of reach (cut), the request gave up and the process
// died with the attempt open. The next process, once the lease lapsed,
// replays the attempt (Stripe answers with the charge it made), records it
// on top of the recorded cancellation — due — and refunds.
func TestACancellationDuringAChargeEndsRefundedWhenThePayerDiesBeforeRecording(t *testing.T) {
	h := apptest.New(t, apptest.Options{FaultProxy: true})
	id, hold, answer := cancelledWhileCharging(t, h)

	h.Proxy.Cut()
	close(hold)
	res := <-answer
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	h.StopBackground()
	h.Proxy.Restore()
	c := h.Charge(id)
	require.Equal(t, payment.StatusCreated, c.Status, "nothing was recorded")
	assert.Equal(t, 1, h.Stripe.ChargesMade())

	later := time.Now().Add(payment.DefaultLease + time.Minute)
	apptest.New(t, apptest.Options{SameAs: h, Now: func() time.Time { return later }})
	c = h.Charge(id)
	assert.Equal(t, payment.StatusCompleted, c.Status)
	assert.Equal(t, "ch_fake_1", c.StripeID)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	charges := h.Stripe.Requests("/v1/charges")
	require.Len(t, charges, 2)
	assert.True(t, charges[1].Replayed, "the replay learned the charge; it did not make another")
	assert.Equal(t, 1, h.Stripe.ChargesMade())
	assert.Equal(t, 1, h.Stripe.RefundsMade())
}

// The same, with the payer played step by step: it claimed, Stripe charged,
// the cancellation arrived (and was acked), the payer recorded the charge —
// and died before anything else. On main this charge was never refunded:
// the handler had left it to the payer, and the reconciler did not look.
func TestACancellationDuringAChargeEndsRefundedWhenThePayerDiesRightAfterRecording(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	ctx := testenv.Context(t)
	id := h.Order("buyer", 2000, time.Hour)
	claimed := h.Claim(id, "buyer", time.Now())
	cancel(h, id)
	require.Eventually(t, cancelSeen(h, id), testenv.Wait, testenv.Tick)
	_, err := h.App.Charges.Succeeded(ctx, claimed, "ch_fake_1", time.Now())
	require.NoError(t, err)
	h.StopBackground()

	apptest.New(t, apptest.Options{SameAs: h})
	assert.Equal(t, "re_fake_1", h.Charge(id).StripeRefundID)
	assert.Equal(t, 1, h.Stripe.RefundsMade())
}

// order:cancelled's handler only records: the refund is made by the refunder
// in the background, so a Stripe that hangs holds no event. While the first
// cancelled order's refund hangs at Stripe, the next cancellation (same
// subscription) is already recorded.
func TestACancellationAfterTheChargeIsRefundedInTheBackgroundWhileStripeHangs(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	first, second := h.PaidOrder("buyer", 2000), h.PaidOrder("buyer", 2000)
	hold := make(chan struct{})
	h.Stripe.NextRefund(stripetest.Held(hold))

	cancel(h, first)
	require.Eventually(t, func() bool { return h.Stripe.InFlight("/v1/refunds") == 1 }, testenv.Wait, testenv.Tick)
	cancel(h, second)
	require.Eventually(t, func() bool { return h.Charge(second).RefundDue && h.Stripe.InFlight("/v1/refunds") == 1 }, testenv.Wait, testenv.Tick,
		"the second cancellation was handled while the first refund was still hanging")
	assert.Zero(t, h.Stripe.RefundsMade())

	close(hold)
	require.Eventually(t, refunded(h, first), testenv.Wait, testenv.Tick)
	require.Eventually(t, refunded(h, second), testenv.Wait, testenv.Tick)
	assert.Equal(t, 2, h.Stripe.RefundsMade())
}

// A refund is made once and recorded once, whatever repeats: the same
// cancellation redelivered, two payments processes (each with its refunder),
// and two reconciliations at once while Stripe is still making the refund.
func TestARefundIsMadeOnceWithRedeliveriesAndTwoReconcilers(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	other := apptest.New(t, apptest.Options{SameAs: h})
	ctx := testenv.Context(t)
	id := h.PaidOrder("buyer", 2000)
	hold := make(chan struct{})
	h.Stripe.NextRefund(stripetest.Held(hold))

	for range 3 {
		cancel(h, id)
	}
	require.Eventually(t, func() bool { return h.Stripe.InFlight("/v1/refunds") == 1 }, testenv.Wait, testenv.Tick)
	reconcileBoth := func() {
		var wg sync.WaitGroup
		for _, p := range []*payment.Payer{h.App.Payer, other.App.Payer} {
			wg.Go(func() { _, err := p.Reconcile(ctx); assert.NoError(t, err) })
		}
		wg.Wait()
	}
	reconcileBoth()
	close(hold)
	require.Eventually(t, refunded(h, id), testenv.Wait, testenv.Tick)
	recorded := h.Charge(id)
	for range 3 {
		cancel(other, id)
	}
	reconcileBoth()

	// A sentinel behind the repeats: once it is refunded, they were handled.
	cancelUntilRefunded(t, h, h.PaidOrder("buyer", 2000))

	c := h.Charge(id)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	assert.Equal(t, recorded.UpdatedAt, c.UpdatedAt, "recorded once: nothing rewrote it")
	assert.Equal(t, 2, h.Stripe.RefundsMade(), "one refund each for the order and the sentinel")
	for _, r := range h.Stripe.Requests("/v1/refunds") {
		if r.Form.Get("charge") == "ch_fake_1" {
			assert.Equal(t, payment.RefundKey(id), r.IdempotencyKey)
		}
	}
}

// Stripe charged, but its answer was lost; then the order was cancelled.
// The cancellation replays the open attempt, finds the charge, refunds it.
func TestAnOpenChargeOfACancelledOrderIsFoundAndRefunded(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.PayAndLoseTheAnswer("buyer", id, "tok_visa")

	cancel(h, id)
	require.Eventually(t, refunded(h, id), testenv.Wait, testenv.Tick)
	c := h.Charge(id)
	assert.Equal(t, "ch_fake_1", c.StripeID)
	assert.Equal(t, 1, h.Stripe.ChargesMade(), "the replay found the charge; it did not make another")
	assert.Equal(t, 1, h.Stripe.RefundsMade())
}

// A request that died while charging (its lease lapses) is finished by the
// reconciler: the same attempt replayed, the payment recorded and announced.
func TestTheReconcilerFinishesAnAttemptWhoseRequestDied(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	ctx := testenv.Context(t)
	id := h.Order("buyer", 2000, time.Hour)
	now := time.Now()
	// What a request leaves behind when it dies after claiming.
	claimed := h.Claim(id, "buyer", now)

	res := h.Pay("buyer", id, "tok_visa")
	assert.Equal(t, http.StatusConflict, res.Status, "while its lease is live, nobody else charges")
	open, err := h.App.Payer.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, open)
	assert.Empty(t, h.Stripe.Requests("/v1/charges"), "nor does the reconciler")

	h.App.Payer.Now = func() time.Time { return now.Add(2 * time.Minute) }
	open, err = h.App.Payer.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, open)
	c := h.Charge(id)
	assert.Equal(t, payment.StatusCompleted, c.Status)
	sent := h.Stripe.Requests("/v1/charges")
	require.Len(t, sent, 1)
	assert.Equal(t, claimed.IdempotencyKey(), sent[0].IdempotencyKey)
	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, id)) == 1 }, testenv.Wait, testenv.Tick)
}

// An attempt still open after Stripe's idempotency window is never replayed:
// a replay then could charge a second time.
func TestAnAttemptOpenPastTheReplayWindowIsLeftForAPerson(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	ctx := testenv.Context(t)
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next(stripetest.ServerError())
	require.Equal(t, http.StatusBadGateway, h.Pay("buyer", id, "tok_visa").Status)

	start := time.Now()
	h.App.Payer.Now = func() time.Time { return start.Add(time.Hour) }
	open, err := h.App.Payer.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, open, "Stripe repeats its saved 500: still open")
	require.Len(t, h.Stripe.Requests("/v1/charges"), 2)

	h.App.Payer.Now = func() time.Time { return start.Add(payment.ReplayWindow + time.Minute) }
	open, err = h.App.Payer.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, open)
	assert.Len(t, h.Stripe.Requests("/v1/charges"), 2, "not replayed past the window")
	assert.Equal(t, payment.StatusCreated, h.Charge(id).Status)
}

func TestTheReconcilerRunsUntilStopped(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next(stripetest.Unavailable())
	require.Equal(t, http.StatusBadGateway, h.Pay("buyer", id, "tok_visa").Status)

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.App.Payer.RunReconciler(50 * time.Millisecond)(ctx) }()
	require.Eventually(t, func() bool { return h.Charge(id).Status == payment.StatusCompleted }, testenv.Wait, testenv.Tick)
	stop()
	require.NoError(t, <-done)
}
