package app_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func cancel(h *apptest.Harness, orderID string) {
	h.Publish(events.OrderCancelled{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: "t"}})
}

func completed(h *apptest.Harness, orderID string) func() bool {
	return func() bool { return h.Charge(orderID).Status == payment.StatusCompleted }
}

// paidOnce waits until the order's one payment:created arrived, and checks
// no second one follows the settling of everything Stripe sent.
func paidOnce(t *testing.T, h *apptest.Harness, orderID string) {
	t.Helper()
	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, orderID)) > 0 }, testenv.Wait, testenv.Tick)
	require.Eventually(t, func() bool { return h.WebhooksApplied(orderID) }, testenv.Wait, testenv.Tick)
	assert.Len(t, apptest.ForOrder(t, h.Paid, orderID), 1, "one payment:created")
}

func TestATokenIsConfirmedServerSideAndPaysAt201(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	order := h.Order("buyer", 2050, time.Hour)
	res := h.Pay("buyer", order, stripestandin.CardVisa)
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	body := res.Object(t)
	assert.Equal(t, "completed", body["status"])
	assert.Equal(t, 20.5, body["amount"])
	assert.Equal(t, "usd", body["currency"])
	intents := h.Stripe.IntentsFor(order)
	require.Len(t, intents, 1)
	assert.Equal(t, intents[0], body["stripeId"], "the PaymentIntent that paid")
	created := h.Stripe.Requests("/v1/payment_intents")[0]
	assert.Equal(t, payment.IntentKey(order, 1), created.IdempotencyKey)
	assert.Equal(t, "2050", created.Form.Get("amount"))
	paidOnce(t, h, order)
}

func TestWithoutATokenTheBrowserConfirmsAndTheWebhookAloneCompletes(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", order, "")
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	body := res.Object(t)
	assert.Equal(t, "requires_payment_method", body["status"])
	assert.NotEmpty(t, body["clientSecret"])
	again := h.Pay("buyer", order, "").Object(t)
	assert.Equal(t, body["id"], again["id"], "the existing intent, not a new one")
	assert.Len(t, h.Stripe.IntentsFor(order), 1)

	// Stripe.js confirms with the client secret; the buyer's browser is gone
	// before it tells anyone.
	status, err := h.Stripe.ConfirmAsBrowser(body["id"].(string), stripestandin.PMVisa)
	require.NoError(t, err)
	require.Equal(t, "succeeded", status)
	require.Eventually(t, completed(h, order), testenv.Wait, testenv.Tick)
	paidOnce(t, h, order)
}

func TestThreeDSecureIs202AndCompletesOnlyAfterTheWebhook(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", order, stripestandin.CardThreeDSecure)
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	body := res.Object(t)
	assert.Equal(t, "requires_action", body["status"])
	assert.NotEmpty(t, body["clientSecret"], "for Stripe.js to run the challenge")
	require.Eventually(t, func() bool { return len(h.EventsFor(order, "payment_intent.requires_action")) == 1 }, testenv.Wait, testenv.Tick)
	assert.Equal(t, payment.StatusCreated, h.Charge(order).Status, "not paid before the challenge")
	assert.Empty(t, apptest.ForOrder(t, h.Paid, order))

	require.NoError(t, h.Stripe.Authenticate(body["id"].(string), true))
	require.Eventually(t, completed(h, order), testenv.Wait, testenv.Tick)
	paidOnce(t, h, order)
}

func TestADeclineIs402WithStripesMessageAndANewCardGetsANewIntent(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", order, stripestandin.CardDeclined)
	require.Equal(t, http.StatusPaymentRequired, res.Status, res.Raw)
	assert.Equal(t, "Your card was declined.", res.Message(t))
	c := h.Charge(order)
	assert.Equal(t, payment.StatusFailed, c.Status)
	assert.Equal(t, 1, c.Declines)

	require.Equal(t, http.StatusCreated, h.Pay("buyer", order, stripestandin.CardVisa).Status)
	assert.Len(t, h.Stripe.IntentsFor(order), 2)
	keys := []string{}
	for _, r := range h.Stripe.Requests("/v1/payment_intents") {
		if r.Method == http.MethodPost && r.Path == "/v1/payment_intents" {
			keys = append(keys, r.IdempotencyKey)
		}
	}
	assert.Equal(t, []string{payment.IntentKey(order, 1), payment.IntentKey(order, 2)}, keys)
	paidOnce(t, h, order)
	assert.Equal(t, 1, h.Charge(order).Declines, "the webhook of the decline did not count it twice")
}

func TestFiveConcurrentPaymentsMakeOnePaymentIntent(t *testing.T) {
	for _, token := range []string{stripestandin.CardVisa, ""} {
		t.Run("token "+token, func(t *testing.T) {
			h := apptest.New(t, apptest.Options{})
			order := h.Order("buyer", 2000, time.Hour)
			var wg sync.WaitGroup
			statuses := make(chan int, 5)
			for range 5 {
				wg.Add(1)
				go func() { defer wg.Done(); statuses <- (<-h.PayAsync("buyer", order, token)).Status }()
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for s := range statuses {
				count[s]++
			}
			assert.Len(t, h.Stripe.IntentsFor(order), 1, "one PaymentIntent at Stripe")
			if token != "" {
				assert.Equal(t, 1, count[http.StatusCreated], "%v", count)
				assert.Equal(t, 4, count[http.StatusConflict], "%v", count)
				paidOnce(t, h, order)
			} else {
				assert.Equal(t, 5, count[http.StatusAccepted]+count[http.StatusConflict], "%v", count)
				assert.GreaterOrEqual(t, count[http.StatusAccepted], 1, "%v", count)
			}
		})
	}
}

func TestAnUnreachableStripeIs503AndNothingIsPaid(t *testing.T) {
	h := apptest.New(t, apptest.Options{Env: map[string]string{"STRIPE_API_BASE": apptest.ClosedURL(t)}})
	order := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", order, stripestandin.CardVisa)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	assert.NotEqual(t, payment.StatusCompleted, h.Charge(order).Status)
	assert.Empty(t, apptest.ForOrder(t, h.Paid, order))
}

func TestALostConfirmationAnswerIsLearnedByRetrievingTheIntent(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next("/confirm", stripestandin.ServerError(true))
	res := h.Pay("buyer", order, stripestandin.CardVisa)
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	confirms := 0
	for _, r := range h.Stripe.Requests("/v1/payment_intents/") {
		if r.Method == http.MethodPost {
			confirms++
		}
	}
	assert.Equal(t, 1, confirms, "never confirmed again to learn the outcome")
	paidOnce(t, h, order)
}

// Stripe failed before the confirmation took effect, and saved its 500 for
// the key: the buyer's retry with the same card is a new confirmation (a new
// key), not the saved 500 for a day — and still one intent, paid once.
func TestARetryAfterAFailedConfirmationIsNotStuckOnItsSavedAnswer(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	order := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next("/confirm", stripestandin.ServerError(false))
	res := h.Pay("buyer", order, stripestandin.CardVisa)
	require.Equal(t, http.StatusBadGateway, res.Status, res.Raw)
	assert.Equal(t, payment.StatusCreated, h.Charge(order).Status, "open: nothing was charged")

	res = h.Pay("buyer", order, stripestandin.CardVisa)
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	assert.Len(t, h.Stripe.IntentsFor(order), 1)
	paidOnce(t, h, order)
}
