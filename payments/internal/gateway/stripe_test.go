package gateway_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/money"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/gateway"
	"ticketing.dev/payments/internal/payment"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testKey is a made-up test-mode key: stripe-mock accepts any key shaped like one.
var testKey = "sk_test_" + strings.Repeat("0", 24)

func standIn(t *testing.T) (*stripestandin.Server, *gateway.Stripe) {
	s := stripestandin.New(stripestandin.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return s, gateway.New(gateway.Config{Key: testKey, APIBase: srv.URL, Logger: testenv.Logger(t)})
}

func intentFor(orderID string, price money.Price) payment.IntentRequest {
	return payment.IntentRequest{IdempotencyKey: payment.IntentKey(orderID, 1), OrderID: orderID, Amount: price, Currency: "usd"}
}

func TestAmountsAreExactCents(t *testing.T) {
	stripe, gw := standIn(t)
	for _, tc := range []struct {
		price string
		cents string
	}{
		// 0.1 + 0.2 is 0.30000000000000004 in floating point; 4.35 * 100 is
		// 434.99999999999994; 1.15 * 100 is 114.99999999999999.
		{"0.3", "30"}, {"0.60", "60"}, {"4.35", "435"}, {"1.15", "115"}, {"19.99", "1999"}, {"20.5", "2050"},
		{"1005", "100500"}, {"999999.99", "99999999"},
	} {
		t.Run(tc.price, func(t *testing.T) {
			price, err := money.Parse(tc.price)
			require.NoError(t, err)
			order := testenv.RandomName("order")
			_, _ = gw.CreateIntent(testenv.Context(t), intentFor(order, price))
			sent := stripe.Requests("/v1/payment_intents")
			require.NotEmpty(t, sent)
			last := sent[len(sent)-1]
			assert.Equal(t, tc.cents, last.Form.Get("amount"), "integer cents, exactly")
			assert.Equal(t, order, last.Form.Get("metadata[orderId]"))
		})
	}
}

func TestTheIntentStripeIsAskedFor(t *testing.T) {
	stripe, gw := standIn(t)
	ctx := testenv.Context(t)
	in, err := gw.CreateIntent(ctx, payment.IntentRequest{IdempotencyKey: "pi-o1-1", OrderID: "o1", Amount: 2050, Currency: "eur"})
	require.NoError(t, err)
	assert.Equal(t, payment.IntentRequiresPaymentMethod, in.Status)
	assert.NotEmpty(t, in.ClientSecret)
	assert.Equal(t, "o1", in.OrderID)

	sent := stripe.Requests("/v1/payment_intents")
	require.Len(t, sent, 1)
	assert.Equal(t, "2050", sent[0].Form.Get("amount"))
	assert.Equal(t, "eur", sent[0].Form.Get("currency"), "the configured currency")
	assert.Equal(t, "card", sent[0].Form.Get("payment_method_types[0]"))
	assert.Equal(t, "pi-o1-1", sent[0].IdempotencyKey)

	again, err := gw.CreateIntent(ctx, payment.IntentRequest{IdempotencyKey: "pi-o1-1", OrderID: "o1", Amount: 2050, Currency: "eur"})
	require.NoError(t, err)
	assert.Equal(t, in.ID, again.ID, "the same key is the same intent")
	assert.Equal(t, 1, stripe.IntentsCreated())
}

func TestConfirmationsSortedIntoOutcomes(t *testing.T) {
	for _, tc := range []struct {
		card  payment.Method
		check func(t *testing.T, in payment.Intent, err error)
	}{
		{payment.Method{Token: stripestandin.CardVisa}, func(t *testing.T, in payment.Intent, err error) {
			require.NoError(t, err)
			assert.Equal(t, payment.IntentSucceeded, in.Status)
		}},
		{payment.Method{PaymentMethod: stripestandin.PMVisa}, func(t *testing.T, in payment.Intent, err error) {
			require.NoError(t, err)
			assert.Equal(t, payment.IntentSucceeded, in.Status)
		}},
		{payment.Method{Token: stripestandin.CardThreeDSecure}, func(t *testing.T, in payment.Intent, err error) {
			require.NoError(t, err)
			assert.Equal(t, payment.IntentRequiresAction, in.Status)
			assert.NotEmpty(t, in.ClientSecret)
		}},
		{payment.Method{Token: stripestandin.CardDeclined}, func(t *testing.T, _ payment.Intent, err error) {
			var declined *payment.DeclinedError
			require.ErrorAs(t, err, &declined)
			assert.Equal(t, "Your card was declined.", declined.Message, "Stripe's message, for the cardholder")
		}},
		{payment.Method{Token: "tok_nope"}, func(t *testing.T, _ payment.Intent, err error) {
			var rejected *payment.RejectedError
			require.ErrorAs(t, err, &rejected)
			assert.Equal(t, "card[token]", rejected.Param)
		}},
	} {
		t.Run(tc.card.Token+tc.card.PaymentMethod, func(t *testing.T) {
			_, gw := standIn(t)
			in, err := gw.CreateIntent(testenv.Context(t), intentFor("o2", 1000))
			require.NoError(t, err)
			got, err := gw.ConfirmIntent(testenv.Context(t), in.ID, tc.card, payment.ConfirmKey(in.ID, tc.card, time.Now()))
			tc.check(t, got, err)
		})
	}
}

func TestALostAnswerLeavesTheOutcomeOpen(t *testing.T) {
	stripe, gw := standIn(t)
	ctx := testenv.Context(t)
	in, err := gw.CreateIntent(ctx, intentFor("o3", 1000))
	require.NoError(t, err)
	stripe.Next("/confirm", stripestandin.ServerError(true))
	m := payment.Method{PaymentMethod: stripestandin.PMVisa}
	_, err = gw.ConfirmIntent(ctx, in.ID, m, payment.ConfirmKey(in.ID, m, time.Now()))
	assert.ErrorIs(t, err, payment.ErrOutcomeUnknown, "a 500 may have confirmed")
	got, err := gw.GetIntent(ctx, in.ID)
	require.NoError(t, err)
	assert.Equal(t, payment.IntentSucceeded, got.Status, "retrieving the intent tells")
}

func TestAnUnreachableStripeDidNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	gw := gateway.New(gateway.Config{Key: testKey, APIBase: "http://" + closed, Logger: testenv.Logger(t)})
	_, err = gw.CreateIntent(testenv.Context(t), intentFor("o4", 1000))
	assert.ErrorIs(t, err, payment.ErrNotCharged, "a refused connection never reached Stripe")
}

func TestTheHTTPClientIsInjectable(t *testing.T) {
	stripe := stripestandin.New(stripestandin.Config{})
	srv := httptest.NewServer(stripe)
	defer srv.Close()
	calls := 0
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		calls++
		return http.DefaultTransport.RoundTrip(r)
	})}
	gw := gateway.New(gateway.Config{Key: testKey, APIBase: srv.URL, HTTPClient: client})
	_, err := gw.CreateIntent(context.Background(), intentFor("o5", 1000))
	require.NoError(t, err)
	assert.Equal(t, 1, calls)
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
