package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/gateway"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/stripetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testKey is a made-up test-mode key: stripe-mock accepts any key shaped like one.
var testKey = "sk_test_" + strings.Repeat("0", 24)

func request(orderID string) payment.ChargeRequest {
	return payment.ChargeRequest{IdempotencyKey: "charge-" + orderID + "-1", OrderID: orderID, Amount: 2050, Token: "tok_visa"}
}

func TestARealStripeRoundTripThroughStripeMock(t *testing.T) {
	ctx := testenv.Context(t)
	gw := gateway.New(gateway.Config{Key: testKey, APIBase: testenv.StripeMockURL(t), Logger: testenv.Logger(t)})

	chargeID, err := gw.Charge(ctx, request("64b000000000000000000001"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(chargeID, "ch_"), chargeID)

	refundID, err := gw.Refund(ctx, payment.RefundKey("64b000000000000000000001"), chargeID)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(refundID, "re_"), refundID)
}

func TestTheChargeStripeIsAskedFor(t *testing.T) {
	stripe := stripetest.New(t)
	gw := gateway.New(gateway.Config{Key: testKey, APIBase: stripe.URL, Logger: testenv.Logger(t)})
	req := request("64b000000000000000000002")
	req.Amount = 1999

	id, err := gw.Charge(testenv.Context(t), req)
	require.NoError(t, err)
	require.Equal(t, "ch_fake_1", id)

	sent := stripe.Requests("/v1/charges")
	require.Len(t, sent, 1)
	assert.Equal(t, "1999", sent[0].Form.Get("amount"), "integer cents, exactly")
	assert.Equal(t, "usd", sent[0].Form.Get("currency"))
	assert.Equal(t, "tok_visa", sent[0].Form.Get("source"))
	assert.Equal(t, "64b000000000000000000002", sent[0].Form.Get("metadata[orderId]"))
	assert.Equal(t, "charge-64b000000000000000000002-1", sent[0].IdempotencyKey)
	assert.Equal(t, testKey, sent[0].APIKey)

	_, err = gw.Refund(testenv.Context(t), "refund-64b000000000000000000002", id)
	require.NoError(t, err)
	refunds := stripe.Requests("/v1/refunds")
	require.Len(t, refunds, 1)
	assert.Equal(t, id, refunds[0].Form.Get("charge"))
	assert.Equal(t, "refund-64b000000000000000000002", refunds[0].IdempotencyKey)
}

func TestStripesAnswersSortedIntoOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer stripetest.Answer
		check  func(t *testing.T, err error)
	}{
		{"a declined card", stripetest.Decline("Your card has insufficient funds."), func(t *testing.T, err error) {
			var declined *payment.DeclinedError
			require.ErrorAs(t, err, &declined)
			assert.Equal(t, "Your card has insufficient funds.", declined.Message, "Stripe's message, for the buyer")
		}},
		{"a bad token", stripetest.Reject("source", "No such token: 'tok_nope'"), func(t *testing.T, err error) {
			var rejected *payment.RejectedError
			require.ErrorAs(t, err, &rejected)
			assert.Equal(t, "source", rejected.Param)
			assert.True(t, payment.Definite(err))
		}},
		{"a server error", stripetest.ServerError(), func(t *testing.T, err error) {
			assert.ErrorIs(t, err, payment.ErrOutcomeUnknown, "a 500 may have charged")
		}},
		{"overloaded", stripetest.Unavailable(), func(t *testing.T, err error) {
			assert.ErrorIs(t, err, payment.ErrOutcomeUnknown)
		}},
		{"a bad API key", stripetest.Answer{Status: http.StatusUnauthorized, NoSave: true, Error: map[string]any{
			"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****",
		}}, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, payment.ErrNotCharged, "refused outright, not the buyer's fault")
		}},
		{"rate limited", stripetest.Answer{Status: http.StatusTooManyRequests, NoSave: true, Error: map[string]any{
			"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests",
		}}, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, payment.ErrNotCharged)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stripe := stripetest.New(t)
			stripe.Next(tc.answer)
			gw := gateway.New(gateway.Config{Key: testKey, APIBase: stripe.URL, Logger: testenv.Logger(t)})
			_, err := gw.Charge(testenv.Context(t), request("64b000000000000000000003"))
			require.Error(t, err)
			tc.check(t, err)
			assert.Len(t, stripe.Requests("/v1/charges"), 1, "stripe-go does not retry behind our back")
		})
	}
}

func TestAnUnreachableStripeChargedNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())

	gw := gateway.New(gateway.Config{Key: testKey, APIBase: "http://" + closed, Logger: testenv.Logger(t)})
	_, err = gw.Charge(testenv.Context(t), request("64b000000000000000000004"))
	assert.ErrorIs(t, err, payment.ErrNotCharged, "a refused connection never reached Stripe")
	assert.True(t, payment.Definite(err))
}

func TestASlowStripeLeavesTheOutcomeOpen(t *testing.T) {
	stripe := stripetest.New(t)
	hold := make(chan struct{})
	defer close(hold)
	stripe.Next(stripetest.Held(hold))
	gw := gateway.New(gateway.Config{Key: testKey, APIBase: stripe.URL, Logger: testenv.Logger(t), Timeout: 200 * time.Millisecond})

	_, err := gw.Charge(testenv.Context(t), request("64b000000000000000000005"))
	assert.ErrorIs(t, err, payment.ErrOutcomeUnknown, "the request was sent: it may have charged")
	assert.False(t, payment.Definite(err))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stripe.Next(stripetest.Held(hold))
	_, err = gw.Charge(ctx, request("64b000000000000000000006"))
	assert.ErrorIs(t, err, payment.ErrOutcomeUnknown, "the caller's deadline too")
	assert.False(t, errors.Is(err, payment.ErrNotCharged), fmt.Sprint(err))
}
