package app_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
)

// lostWebhooks is a harness whose Stripe sends no webhook by itself: the
// test delivers the events it chooses, when it chooses.
func lostWebhooks(t *testing.T, opts apptest.Options) *apptest.Harness {
	h := apptest.New(t, opts)
	h.Stripe.DropWebhooks(true)
	return h
}

// paidInTheBrowser opens the order's intent (202) and confirms it with card
// as Stripe.js would, and returns the intent's id.
func paidInTheBrowser(t *testing.T, h *apptest.Harness, order, card string) string {
	t.Helper()
	res := h.Pay("buyer", order, "")
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	id := res.Object(t)["id"].(string)
	_, err := h.Stripe.ConfirmAsBrowser(id, card)
	require.NoError(t, err)
	return id
}

func deliver(t *testing.T, h *apptest.Harness, ev stripestandin.Event) {
	t.Helper()
	status, err := h.Stripe.Deliver(ev.ID)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, ev.Type)
}

func TestForgedMissingStaleAndReplayedSignaturesAre400AndChangeNothing(t *testing.T) {
	h := lostWebhooks(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	paidInTheBrowser(t, h, order, stripestandin.PMVisa)
	succeeded := h.EventsFor(order, payment.EventIntentSucceeded)
	require.Len(t, succeeded, 1)
	payload := succeeded[0].Payload
	captured := stripestandin.Sign(payload, apptest.WebhookSecret, time.Now().Add(-10*time.Minute))
	for name, signature := range map[string]string{
		"forged":         stripestandin.Sign(payload, "whsec_not_ours", time.Now()),
		"missing":        "",
		"garbled":        "t=abc,v1=zz",
		"stale":          captured,
		"another body":   stripestandin.Sign([]byte(`{"id":"evt_x","type":"payment_intent.succeeded"}`), apptest.WebhookSecret, time.Now()),
		"replayed again": captured,
	} {
		res := h.Webhook(payload, signature)
		assert.Equal(t, http.StatusBadRequest, res.Status, name)
		assert.Equal(t, "Invalid Stripe-Signature", res.Message(t), name)
	}
	assert.Equal(t, payment.StatusCreated, h.Charge(order).Status, "no effect")
	assert.False(t, h.WebhooksApplied(order))

	res := h.Webhook(payload, stripestandin.Sign(payload, apptest.WebhookSecret, time.Now()))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	assert.Equal(t, payment.StatusCompleted, h.Charge(order).Status)
}

func TestTheWebhookSkipsTheSessionAndBrowserChecks(t *testing.T) {
	h := lostWebhooks(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	paidInTheBrowser(t, h, order, stripestandin.PMVisa)
	ev := h.EventsFor(order, payment.EventIntentSucceeded)[0]
	// No session, Stripe's content type with a charset, and a cross-site
	// origin a browser would be refused for.
	res, err := h.API.Try("POST", "/api/payments/webhook", string(ev.Payload),
		apitest.Header("Stripe-Signature", stripestandin.Sign(ev.Payload, apptest.WebhookSecret, time.Now())),
		apitest.Header("Content-Type", "application/json; charset=utf-8"),
		apitest.Header("Origin", "https://stripe.com"), apitest.Header("Sec-Fetch-Site", "cross-site"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.Status, res.Raw)
	res, err = h.API.Try("POST", "/api/payments", map[string]string{"orderId": order},
		apitest.Header("Origin", "https://stripe.com"), apitest.Header("Sec-Fetch-Site", "cross-site"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, res.Status, "the exemption is this route's alone")
}

func TestDuplicateAndReverseOrderWebhooksConverge(t *testing.T) {
	h := lostWebhooks(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", order, stripestandin.CardThreeDSecure)
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	id := res.Object(t)["id"].(string)
	require.NoError(t, h.Stripe.Authenticate(id, false)) // the challenge failed…
	_, err := h.Stripe.ConfirmAsBrowser(id, stripestandin.PMVisa)
	require.NoError(t, err) // …and another card paid on the same intent.
	evs := h.EventsFor(order, "")
	require.GreaterOrEqual(t, len(evs), 3)

	for i := len(evs) - 1; i >= 0; i-- { // newest first
		for range 5 {
			deliver(t, h, evs[i])
		}
	}
	c := h.Charge(order)
	assert.Equal(t, payment.StatusCompleted, c.Status, "the failure delivered after the success undoes nothing")
	assert.Equal(t, id, c.StripeID)
	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, order)) == 1 }, testenv.Wait, testenv.Tick)
	assert.Len(t, h.Stripe.IntentsFor(order), 1)
	for _, ev := range evs {
		deliver(t, h, ev)
	}
	assert.Len(t, apptest.ForOrder(t, h.Paid, order), 1, "one payment:created")
}

func TestASuccessAfterTheOrderWasCancelledIsRefundedOnceInEitherOrder(t *testing.T) {
	for _, cancelFirst := range []bool{true, false} {
		name := map[bool]string{true: "cancelled, then the success", false: "the success, then cancelled"}[cancelFirst]
		t.Run(name, func(t *testing.T) {
			h := lostWebhooks(t, apptest.Options{})
			order := h.Order("buyer", 2000, time.Hour)
			intent := paidInTheBrowser(t, h, order, stripestandin.PMVisa)
			succeeded := h.EventsFor(order, payment.EventIntentSucceeded)[0]
			if cancelFirst {
				cancel(h, order)
				require.Eventually(t, func() bool { return h.Charge(order).CancelSeen }, testenv.Wait, testenv.Tick)
			}
			for range 5 {
				deliver(t, h, succeeded)
			}
			if !cancelFirst {
				cancel(h, order)
			}
			require.Eventually(t, func() bool { return h.Charge(order).StripeRefundID != "" }, testenv.Wait, testenv.Tick)
			for _, ev := range h.EventsFor(order, "") { // charge.refunded included
				for range 3 {
					deliver(t, h, ev)
				}
			}
			_, err := h.App.Payer.Reconcile(testenv.Context(t))
			require.NoError(t, err)
			c := h.Charge(order)
			assert.Equal(t, 1, h.Stripe.RefundsMade(), "refunded once")
			assert.False(t, c.RefundDue)
			refunds := h.Stripe.Requests("/v1/refunds")
			require.NotEmpty(t, refunds)
			assert.Equal(t, intent, refunds[0].Form.Get("payment_intent"), "the refund is on the PaymentIntent")
			assert.Equal(t, payment.RefundKey(order), refunds[0].IdempotencyKey)
		})
	}
}

func TestWithWebhooksLostTheReconcilerSettlesAfterTheDeadline(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	h := lostWebhooks(t, apptest.Options{Now: now})
	paid := h.Order("buyer", 2000, time.Minute)
	paidInTheBrowser(t, h, paid, stripestandin.PMVisa)
	abandoned := h.Order("buyer", 2000, time.Minute)
	res := h.Pay("buyer", abandoned, stripestandin.CardThreeDSecure)
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	challenged := res.Object(t)["id"].(string)

	_, err := h.App.Payer.Reconcile(testenv.Context(t))
	require.NoError(t, err)
	assert.Equal(t, payment.StatusCreated, h.Charge(paid).Status, "before the deadline the webhook is awaited")

	clock.Add(int64(2 * time.Minute))
	_, err = h.App.Payer.Reconcile(testenv.Context(t))
	require.NoError(t, err)
	assert.Equal(t, payment.StatusCompleted, h.Charge(paid).Status, "retrieved from Stripe: succeeded")
	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, paid)) == 1 }, testenv.Wait, testenv.Tick)

	c := h.Charge(abandoned)
	assert.Equal(t, payment.StatusFailed, c.Status, "a challenge never passed by the deadline")
	assert.Equal(t, 0, c.Declines, "not the buyer's decline")
	assert.Error(t, h.Stripe.Authenticate(challenged, true), "cancelled at Stripe: nobody can pay for it now")
}

// The database goes away while Stripe delivers: the webhook answers 503,
// nothing is recorded as applied, and Stripe's next delivery applies it.
func TestAWebhookThatCouldNotBeAppliedIsAppliedWhenStripeDeliversItAgain(t *testing.T) {
	h := lostWebhooks(t, apptest.Options{FaultProxy: true})
	order := h.Order("buyer", 2000, time.Hour)
	paidInTheBrowser(t, h, order, stripestandin.PMVisa)
	ev := h.EventsFor(order, payment.EventIntentSucceeded)[0]

	h.Proxy.Cut()
	status, err := h.Stripe.Deliver(ev.ID)
	h.Proxy.Restore()
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, status, "not applied: Stripe retries")
	assert.Equal(t, payment.StatusCreated, h.Charge(order).Status)

	require.Eventually(t, func() bool {
		status, err := h.Stripe.Deliver(ev.ID)
		return err == nil && status == http.StatusOK
	}, testenv.Wait, testenv.Tick)
	assert.Equal(t, payment.StatusCompleted, h.Charge(order).Status)
	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, order)) == 1 }, testenv.Wait, testenv.Tick)
}
