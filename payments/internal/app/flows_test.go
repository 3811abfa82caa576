package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/stripetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	wait = 20 * time.Second
	tick = 20 * time.Millisecond
)

func cancel(h *apptest.Harness, orderID string) {
	h.Publish(events.OrderCancelled{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: "t"}})
}

func refunded(h *apptest.Harness, orderID string) func() bool {
	return func() bool { return h.Charge(orderID).StripeRefundID != "" }
}

// Late payment, one ordering: the order is cancelled after the charge went
// through. order:cancelled refunds it.
func TestAChargeForAnOrderCancelledAfterwardsIsRefunded(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", id, "tok_visa").Status)

	cancel(h, id)
	require.Eventually(t, refunded(h, id), wait, tick)
	c := h.Charge(id)
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
	sentinel := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", sentinel, "tok_visa").Status)
	cancel(h, sentinel)
	require.Eventually(t, refunded(h, sentinel), wait, tick)
	assert.Equal(t, 2, h.Stripe.RefundsMade())
}

// Late payment, the other ordering: the cancellation arrives while Stripe is
// charging. The request sees it once the charge is made and refunds it.
func TestAChargeForAnOrderCancelledMeanwhileIsRefunded(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	hold := make(chan struct{})
	h.Stripe.Next(stripetest.Held(hold))

	answer := h.PayAsync("buyer", id, "tok_visa")
	require.Eventually(t, func() bool { return len(h.Stripe.Requests("/v1/charges")) == 1 }, wait, tick)
	cancel(h, id)
	require.Eventually(t, func() bool { o, err := h.Replica(id); return err == nil && o.Status == events.StatusCancelled }, wait, tick)
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
	id := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", id, "tok_visa").Status)
	cancel(h, id)
	require.Eventually(t, refunded(h, id), wait, tick)
	assert.True(t, strings.HasPrefix(h.Charge(id).StripeRefundID, "re_"), h.Charge(id).StripeRefundID)
}

// A refund Stripe could not make stays due, and the reconciler makes it.
func TestARefundThatFailedIsMadeByTheReconciler(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", id, "tok_visa").Status)
	h.Stripe.NextRefund(stripetest.Unavailable())

	cancel(h, id)
	require.Eventually(t, func() bool { return h.Charge(id).RefundDue }, wait, tick)
	require.Eventually(t, func() bool { return len(h.Stripe.Requests("/v1/refunds")) == 1 }, wait, tick)
	assert.Empty(t, h.Charge(id).StripeRefundID)

	open, err := h.App.Payer.Reconcile(testenv.Context(t))
	require.NoError(t, err)
	assert.Zero(t, open)
	c := h.Charge(id)
	assert.Equal(t, "re_fake_1", c.StripeRefundID)
	assert.False(t, c.RefundDue)
	refunds := h.Stripe.Requests("/v1/refunds")
	require.Len(t, refunds, 2)
	assert.Equal(t, refunds[0].IdempotencyKey, refunds[1].IdempotencyKey, "one refund per order, however often it is tried")
}

// Stripe charged, but its answer was lost; then the order was cancelled.
// The cancellation replays the open attempt, finds the charge, refunds it.
func TestAnOpenChargeOfACancelledOrderIsFoundAndRefunded(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.PayAndLoseTheAnswer("buyer", id, "tok_visa")

	cancel(h, id)
	require.Eventually(t, refunded(h, id), wait, tick)
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
	claimed, err := h.App.Charges.Claim(ctx, payment.Charge{OrderID: id, UserID: "buyer", Amount: 2000, Token: "tok_visa", LeaseUntil: now.Add(time.Minute)}, now)
	require.NoError(t, err)

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
	require.Eventually(t, func() bool { return len(apptest.ForOrder(h.Paid, id)) == 1 }, wait, tick)
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
	require.Eventually(t, func() bool { return h.Charge(id).Status == payment.StatusCompleted }, wait, tick)
	stop()
	require.NoError(t, <-done)
}
