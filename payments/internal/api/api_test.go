package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type chargeBody struct {
	ID       string  `json:"id"`
	OrderID  string  `json:"orderId"`
	Status   string  `json:"status"`
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
	StripeID string  `json:"stripeId"`
}

// The contract of POST /api/payments, one row per answer.
func TestPaymentRequestsAnswerAsTheContractSays(t *testing.T) {
	// One buyer asks far more often than the paying limits allow.
	h := apptest.New(t, apptest.Options{Env: map[string]string{"PAY_USER_BURST": "1000", "PAY_ADDRESS_BURST": "1000"}})
	open := h.Order("buyer", 2050, time.Hour)
	cancelled := h.Order("buyer", 2050, time.Hour)
	h.SetStatus(cancelled, 1, events.StatusCancelled)
	complete := h.Order("buyer", 2050, time.Hour)
	h.SetStatus(complete, 1, events.StatusComplete)
	expired := h.Order("buyer", 2050, -time.Second)
	unknown := primitive.NewObjectID().Hex()

	body := func(orderID string) string { return `{"orderId":"` + orderID + `","token":"tok_visa"}` }
	buyer := apitest.As(h.Session("buyer"))
	for _, tc := range []struct {
		name    string
		body    string
		opts    []apitest.Option
		status  int
		message string
		fields  []string
	}{
		{"no session", body(open), nil, http.StatusUnauthorized, "Not authorized", nil},
		{"a forged session", body(open), []apitest.Option{apitest.As(apitest.Session(t, "another-key-0123456789abcdef-0123456789", "buyer"))}, http.StatusUnauthorized, "Not authorized", nil},
		{"malformed JSON", `{"orderId":`, []apitest.Option{buyer}, http.StatusBadRequest, "Request body is not valid JSON", nil},
		{"not an object", `[1]`, []apitest.Option{buyer}, http.StatusBadRequest, "Request body must be a JSON object", nil},
		{"an unknown field", `{"orderId":"` + open + `","token":"tok_visa","amount":1}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"amount"}},
		{"a token of the wrong type", `{"orderId":"` + open + `","token":42}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"token"}},
		{"a token and a payment method", `{"orderId":"` + open + `","token":"tok_visa","paymentMethod":"pm_card_visa"}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"paymentMethod"}},
		{"a payment method too long", `{"orderId":"` + open + `","paymentMethod":"` + strings.Repeat("p", 256) + `"}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"paymentMethod"}},
		{"nothing at all", `{}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"orderId"}},
		{"a token too long", `{"orderId":"` + open + `","token":"` + strings.Repeat("t", 256) + `"}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"token"}},
		{"a malformed order id", body("not-an-id"), []apitest.Option{buyer}, http.StatusNotFound, "Order not found", nil},
		{"an unknown order", body(unknown), []apitest.Option{buyer}, http.StatusNotFound, "Order not found", nil},
		{"someone else's order", body(open), []apitest.Option{apitest.As(h.Session("intruder"))}, http.StatusForbidden, "", nil},
		{"a cancelled order", body(cancelled), []apitest.Option{buyer}, http.StatusConflict, "Order is cancelled", nil},
		{"a complete order", body(complete), []apitest.Option{buyer}, http.StatusConflict, "Order is already paid", nil},
		{"an expired order", body(expired), []apitest.Option{buyer}, http.StatusConflict, "Order has expired", nil},
		{"an oversized body", `{"orderId":"` + open + `","token":"` + strings.Repeat("t", 70_000) + `"}`, []apitest.Option{buyer}, http.StatusRequestEntityTooLarge, "", nil},
		{"not JSON", `orderId=1`, []apitest.Option{buyer, apitest.Header("Content-Type", "application/x-www-form-urlencoded")}, http.StatusUnsupportedMediaType, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := h.API.Do("POST", "/api/payments", tc.body, tc.opts...)
			require.Equal(t, tc.status, res.Status, res.Raw)
			res.Errors(t)
			if tc.message != "" {
				assert.Equal(t, tc.message, res.Message(t))
			}
			if tc.fields != nil {
				assert.ElementsMatch(t, tc.fields, res.Fields(t))
			}
		})
	}
	assert.Empty(t, h.Stripe.Requests("/v1/"), "no refused request reached Stripe")
	for _, id := range []string{open, cancelled, complete, expired} {
		assert.False(t, h.HasCharge(id), "no charge recorded for a refused request")
	}

	t.Run("the buyer, in time", func(t *testing.T) {
		res := h.Pay("buyer", open, "tok_visa")
		require.Equal(t, http.StatusCreated, res.Status, res.Raw)
		var got chargeBody
		res.Decode(t, &got)
		assert.NotEmpty(t, got.ID)
		assert.Equal(t, chargeBody{ID: got.ID, OrderID: open, Status: "completed", Amount: 20.5, Currency: "usd", StripeID: h.Stripe.IntentsFor(open)[0]}, got)
		assert.NotContains(t, res.Raw, "tok_visa", "the card token never comes back")
	})
	t.Run("and then again", func(t *testing.T) {
		res := h.Pay("buyer", open, "tok_visa")
		require.Equal(t, http.StatusConflict, res.Status, res.Raw)
		assert.Equal(t, "Order is already paid", res.Message(t))
	})
	assert.Len(t, h.Stripe.IntentsFor(open), 1, "a retried request never pays twice")
}

func TestAPaymentChargesCentsRecordsTheChargeAndAnnouncesIt(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 1999, time.Hour)

	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)

	sent := h.Stripe.Requests("/v1/payment_intents")
	require.NotEmpty(t, sent)
	assert.Equal(t, "1999", sent[0].Form.Get("amount"), "19.99 is 1999 cents, exactly")
	assert.Equal(t, "usd", sent[0].Form.Get("currency"))
	assert.Equal(t, id, sent[0].Form.Get("metadata[orderId]"))
	assert.Equal(t, payment.IntentKey(id, 1), sent[0].IdempotencyKey, "the idempotency key derives from the order and attempt")
	intent := h.Stripe.IntentsFor(id)[0]

	c := h.Charge(id)
	assert.Equal(t, payment.StatusCompleted, c.Status)
	assert.Equal(t, money.Price(1999), c.Amount)
	assert.Equal(t, intent, c.StripeID)
	assert.Empty(t, c.StripeRefundID)

	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, id)) == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, events.PaymentCreated{ID: c.ID, OrderID: id, StripeID: intent}, apptest.ForOrder(t, h.Paid, id)[0])
}

func TestTheCurrencyComesFromConfiguration(t *testing.T) {
	h := apptest.New(t, apptest.Options{Env: map[string]string{"PAYMENT_CURRENCY": "eur"}})
	id := h.Order("buyer", 1999, time.Hour)
	res := h.Pay("buyer", id, "")
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	assert.Equal(t, "eur", res.Object(t)["currency"])
	assert.Equal(t, "eur", h.Stripe.Requests("/v1/payment_intents")[0].Form.Get("currency"))
}

func TestABadTokenNamesTheFieldAndTheIntentStaysOpen(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", id, "tok_nope")
	require.Equal(t, http.StatusBadRequest, res.Status, res.Raw)
	assert.Equal(t, []string{"token"}, res.Fields(t))
	require.Equal(t, http.StatusCreated, h.Pay("buyer", id, "tok_visa").Status)
	assert.Len(t, h.Stripe.IntentsFor(id), 1, "the same intent, confirmed with the good card")
}

func TestARealStripeGoRoundTripThroughStripeMock(t *testing.T) {
	// stripe-mock answers every intent as requires_payment_method, whatever
	// it is asked: the intent is created and handed to the browser.
	h := apptest.New(t, apptest.Options{StripeMock: true})
	id := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", id, "")
	require.Equal(t, http.StatusAccepted, res.Status, res.Raw)
	got := res.Object(t)
	assert.True(t, strings.HasPrefix(got["id"].(string), "pi_"), got["id"])
	assert.NotEmpty(t, got["clientSecret"])
	assert.Equal(t, got["id"], h.Charge(id).IntentID)
}

// Card testing: ten cards tried on one order. The first three declines are
// Stripe's answers (402); from the fourth on the attempt is refused before
// any request reaches Stripe (429 in the common error body), and the count
// is the charge's own, so concurrent tries get no attempt more.
func TestDeclinesBeyondMaxPaymentAttemptsNeverReachStripe(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	for range payment.DefaultMaxPaymentAttempts {
		res := h.Pay("buyer", id, stripestandin.CardDeclined)
		require.Equal(t, http.StatusPaymentRequired, res.Status, res.Raw)
	}
	var wg sync.WaitGroup
	for i := payment.DefaultMaxPaymentAttempts; i < 10; i++ {
		wg.Go(func() {
			res := h.Pay("buyer", id, stripestandin.CardDeclined)
			assert.Equal(t, http.StatusTooManyRequests, res.Status, res.Raw)
			assert.Equal(t, "Too many declined payments for this order", res.Message(t))
		})
	}
	wg.Wait()
	assert.Len(t, h.Stripe.IntentsFor(id), payment.DefaultMaxPaymentAttempts, "no attempt beyond the limit reached Stripe")
	c := h.Charge(id)
	assert.Equal(t, payment.StatusFailed, c.Status)
	assert.Equal(t, payment.DefaultMaxPaymentAttempts, c.Declines)
}

// Paying is rate-limited per buyer and per address, before the order is even
// read: 429 with Retry-After in the common error body, and Stripe is not
// called. Limits small enough to reach are set for the test; the defaults
// are in app.DefaultPaying.
func TestPayingIsRateLimitedPerBuyerAndPerAddress(t *testing.T) {
	h := apptest.New(t, apptest.Options{Env: map[string]string{
		"PAY_USER_BURST": "2", "PAY_USER_EVERY": "1h",
		"PAY_ADDRESS_BURST": "4", "PAY_ADDRESS_EVERY": "1h",
	}})
	refused := func(res apitest.Response) {
		t.Helper()
		require.Equal(t, http.StatusTooManyRequests, res.Status, res.Raw)
		assert.Equal(t, "Too many payment attempts; try again later", res.Message(t))
		assert.Equal(t, "3600", res.Header.Get("Retry-After"))
	}
	first, second := h.Order("buyer", 2000, time.Hour), h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusPaymentRequired, h.Pay("buyer", first, stripestandin.CardDeclined).Status)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", second, stripestandin.CardVisa).Status)
	refused(h.Pay("buyer", first, stripestandin.CardVisa))

	// The address (every test request comes from loopback) has one of its
	// four left: the refused request counted there too.
	other := h.Order("other", 2000, time.Hour)
	require.Equal(t, http.StatusCreated, h.Pay("other", other, stripestandin.CardVisa).Status)
	refused(h.Pay("other", other, stripestandin.CardVisa))
	assert.Equal(t, 3, h.Stripe.IntentsCreated(), "no refused request reached Stripe")
}
