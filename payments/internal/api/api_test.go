package api_test

import (
	"fmt"
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
	"ticketing.dev/payments/internal/apptest"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/stripetest"
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
		{"no token", `{"orderId":"` + open + `"}`, []apitest.Option{buyer}, http.StatusBadRequest, "is required", []string{"token"}},
		{"a blank token", `{"orderId":"` + open + `","token":"  "}`, []apitest.Option{buyer}, http.StatusBadRequest, "is required", []string{"token"}},
		{"nothing at all", `{}`, []apitest.Option{buyer}, http.StatusBadRequest, "", []string{"orderId", "token"}},
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
	assert.Empty(t, h.Stripe.Requests("/v1/charges"), "no refused request reached Stripe")
	for _, id := range []string{open, cancelled, complete, expired} {
		assert.False(t, h.HasCharge(id), "no charge recorded for a refused request")
	}

	t.Run("the buyer, in time", func(t *testing.T) {
		res := h.Pay("buyer", open, "tok_visa")
		require.Equal(t, http.StatusCreated, res.Status, res.Raw)
		var got chargeBody
		res.Decode(t, &got)
		assert.NotEmpty(t, got.ID)
		assert.Equal(t, chargeBody{ID: got.ID, OrderID: open, Status: "completed", Amount: 20.5, Currency: "usd", StripeID: "ch_fake_1"}, got)
		assert.NotContains(t, res.Raw, "tok_visa", "the card token never comes back")
	})
	t.Run("and then again", func(t *testing.T) {
		res := h.Pay("buyer", open, "tok_visa")
		require.Equal(t, http.StatusConflict, res.Status, res.Raw)
		assert.Equal(t, "Order is already paid", res.Message(t))
	})
	assert.Equal(t, 1, h.Stripe.ChargesMade(), "a retried request never charges twice")
}

func TestAPaymentChargesCentsRecordsTheChargeAndAnnouncesIt(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 1999, time.Hour)

	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)

	sent := h.Stripe.Requests("/v1/charges")
	require.Len(t, sent, 1)
	assert.Equal(t, "1999", sent[0].Form.Get("amount"), "19.99 is 1999 cents, exactly")
	assert.Equal(t, "usd", sent[0].Form.Get("currency"))
	assert.Equal(t, "tok_visa", sent[0].Form.Get("source"))
	assert.Equal(t, "charge-"+id+"-1", sent[0].IdempotencyKey, "the idempotency key derives from the order")

	c := h.Charge(id)
	assert.Equal(t, payment.StatusCompleted, c.Status)
	assert.Equal(t, money.Price(1999), c.Amount)
	assert.Equal(t, "ch_fake_1", c.StripeID)
	assert.Empty(t, c.StripeRefundID)
	assert.Empty(t, c.Token, "the card token is not kept once the outcome is known")

	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, id)) == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, events.PaymentCreated{ID: c.ID, OrderID: id, StripeID: "ch_fake_1"}, apptest.ForOrder(t, h.Paid, id)[0])
}

func TestARealStripeGoRoundTripThroughStripeMock(t *testing.T) {
	h := apptest.New(t, apptest.Options{StripeMock: true})
	id := h.Order("buyer", 2000, time.Hour)
	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	var got chargeBody
	res.Decode(t, &got)
	assert.True(t, strings.HasPrefix(got.StripeID, "ch_"), got.StripeID)
	assert.Equal(t, got.StripeID, h.Charge(id).StripeID)
	require.Eventually(t, func() bool { return len(apptest.ForOrder(t, h.Paid, id)) == 1 }, 10*time.Second, 20*time.Millisecond)
}

func TestTwoConcurrentPaymentsChargeOnce(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	// Stripe holds the first charge it gets until the other request has its
	// answer, so the two really overlap.
	hold := make(chan struct{})
	h.Stripe.Next(stripetest.Held(hold))

	a, b := h.PayAsync("buyer", id, "tok_visa"), h.PayAsync("buyer", id, "tok_mastercard")
	var first apitest.Response
	var rest <-chan apitest.Response
	select {
	case first = <-a:
		rest = b
	case first = <-b:
		rest = a
	}
	close(hold)
	second := <-rest
	require.Equal(t, http.StatusConflict, first.Status, first.Raw)
	assert.Equal(t, "A payment for this order is already in progress", first.Message(t))
	require.Equal(t, http.StatusCreated, second.Status, second.Raw)
	assert.Len(t, h.Stripe.Requests("/v1/charges"), 1, "Stripe saw one charge request")
	assert.Equal(t, 1, h.Stripe.ChargesMade())
	assert.Equal(t, payment.StatusCompleted, h.Charge(id).Status)
}

func TestADeclinedCardIsA402AndAnotherCardMayFollow(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next(stripetest.Decline("Your card has insufficient funds."))

	res := h.Pay("buyer", id, "tok_chargeDeclinedInsufficientFunds")
	require.Equal(t, http.StatusPaymentRequired, res.Status, res.Raw)
	assert.Equal(t, "Your card has insufficient funds.", res.Message(t), "Stripe's message")
	c := h.Charge(id)
	assert.Equal(t, payment.StatusFailed, c.Status, "a declined charge is recorded as failed")
	assert.Equal(t, "Your card has insufficient funds.", c.FailureMessage)
	assert.Empty(t, c.StripeID)

	res = h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	sent := h.Stripe.Requests("/v1/charges")
	require.Len(t, sent, 2)
	assert.Equal(t, "charge-"+id+"-2", sent[1].IdempotencyKey, "a new card is a new attempt, under a new key")
	assert.Equal(t, "tok_visa", sent[1].Form.Get("source"))
	c = h.Charge(id)
	assert.Equal(t, payment.StatusCompleted, c.Status)
	assert.Equal(t, 2, c.Attempt)
}

func TestABadTokenNamesTheField(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next(stripetest.Reject("source", "No such token: 'tok_nope'"))
	res := h.Pay("buyer", id, "tok_nope")
	require.Equal(t, http.StatusBadRequest, res.Status, res.Raw)
	assert.Equal(t, []string{"token"}, res.Fields(t))
	assert.Equal(t, "No such token: 'tok_nope'", res.Message(t))
	assert.Equal(t, payment.StatusFailed, h.Charge(id).Status)
}

// Stripe's message for a request it refuses for our own reasons (a bad key, a
// parameter we got wrong) can quote the secret key: the buyer gets a generic
// 502 and the detail goes to the log only.
func TestARefusalThatIsNotAboutTheCardRevealsNothing(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next(stripetest.Reject("", "Invalid API Key provided: sk_test_secret_value"))
	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusBadGateway, res.Status, res.Raw)
	assert.NotContains(t, res.Raw, "sk_test")
	assert.Equal(t, "The payment provider refused the request; you were not charged", res.Message(t))
	assert.NotEqual(t, payment.StatusCompleted, h.Charge(id).Status)
}

func TestAnUnreachableStripeIs503AndNothingIsPaid(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Close() // Stripe is down: connections are refused

	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
	assert.Contains(t, res.Message(t), "you were not charged")
	c := h.Charge(id)
	assert.NotEqual(t, payment.StatusCompleted, c.Status, "nothing recorded as paid")
	assert.Empty(t, c.StripeID)
	assert.Empty(t, apptest.ForOrder(t, h.Paid, id))

	// The buyer may try again at once: nothing holds the order.
	res = h.Pay("buyer", id, "tok_visa")
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, res.Raw)
}

func TestAStripeFailureIs502AndTheRetryReplaysTheSameRequest(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.Stripe.Next(stripetest.Unavailable())

	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusBadGateway, res.Status, res.Raw)
	assert.Contains(t, res.Message(t), "You will not be charged twice")
	c := h.Charge(id)
	assert.Equal(t, payment.StatusCreated, c.Status, "the outcome is open, not paid")
	assert.Empty(t, c.StripeID)
	assert.Empty(t, apptest.ForOrder(t, h.Paid, id))

	// The buyer tries again, even with another card: the open attempt is
	// replayed exactly (same key, same card) so it cannot charge twice.
	res = h.Pay("buyer", id, "tok_mastercard")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	sent := h.Stripe.Requests("/v1/charges")
	require.Len(t, sent, 2)
	assert.Equal(t, sent[0].IdempotencyKey, sent[1].IdempotencyKey)
	assert.Equal(t, "tok_visa", sent[1].Form.Get("source"))
	assert.Equal(t, 1, h.Stripe.ChargesMade())
}

func TestALostAnswerIsFoundByTheReplayNotChargedAgain(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	h.PayAndLoseTheAnswer("buyer", id, "tok_visa")

	res := h.Pay("buyer", id, "tok_visa")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	assert.Equal(t, 1, h.Stripe.ChargesMade(), "the replay found the charge Stripe made")
	replays := h.Stripe.Requests("/v1/charges")
	require.Len(t, replays, 2)
	assert.True(t, replays[1].Replayed)
	assert.Equal(t, "ch_fake_1", h.Charge(id).StripeID)
}

func TestADeclinedReplayLetsTheNewCardThrough(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	// The first card's request fails on the way back; its replay says it
	// was declined; then the buyer's second card goes through, all in one
	// request.
	h.Stripe.Next(stripetest.Unavailable(), stripetest.Decline("Your card was declined."))
	require.Equal(t, http.StatusBadGateway, h.Pay("buyer", id, "tok_first").Status)

	res := h.Pay("buyer", id, "tok_second")
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	sent := h.Stripe.Requests("/v1/charges")
	require.Len(t, sent, 3)
	assert.Equal(t, []string{"tok_first", "tok_first", "tok_second"}, []string{sent[0].Form.Get("source"), sent[1].Form.Get("source"), sent[2].Form.Get("source")})
	assert.Equal(t, "charge-"+id+"-2", sent[2].IdempotencyKey)
}

// Card testing: ten cards tried on one order. The first three declines are
// Stripe's answers (402); from the fourth on the attempt is refused before
// any request reaches Stripe (429 in the common error body), and the count
// is the charge's own, so concurrent tries get no attempt more.
func TestDeclinesBeyondMaxPaymentAttemptsNeverReachStripe(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	id := h.Order("buyer", 2000, time.Hour)
	for range 10 {
		h.Stripe.Next(stripetest.Decline("Your card was declined."))
	}
	for i := range payment.DefaultMaxPaymentAttempts {
		res := h.Pay("buyer", id, fmt.Sprintf("tok_card_%d", i))
		require.Equal(t, http.StatusPaymentRequired, res.Status, res.Raw)
	}
	var wg sync.WaitGroup
	for i := payment.DefaultMaxPaymentAttempts; i < 10; i++ {
		wg.Go(func() {
			res := h.Pay("buyer", id, fmt.Sprintf("tok_card_%d", i))
			assert.Equal(t, http.StatusTooManyRequests, res.Status, res.Raw)
			assert.Equal(t, "Too many declined payments for this order", res.Message(t))
		})
	}
	wg.Wait()
	assert.Len(t, h.Stripe.Requests("/v1/charges"), payment.DefaultMaxPaymentAttempts, "no attempt beyond the limit reached Stripe")
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
	h.Stripe.Next(stripetest.Decline("Your card was declined."))
	require.Equal(t, http.StatusPaymentRequired, h.Pay("buyer", first, "tok_a").Status)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", second, "tok_b").Status)
	refused(h.Pay("buyer", first, "tok_c"))

	// The address (every test request comes from loopback) has one of its
	// four left: the refused request counted there too.
	other := h.Order("other", 2000, time.Hour)
	require.Equal(t, http.StatusCreated, h.Pay("other", other, "tok_d").Status)
	refused(h.Pay("other", other, "tok_e"))
	assert.Len(t, h.Stripe.Requests("/v1/charges"), 3, "no refused request reached Stripe")
}
