package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/stripestandin"
	"ticketing.dev/payments/internal/gateway"
	"ticketing.dev/payments/internal/payment"
)

// everyCall makes every kind of request payments sends Stripe: create,
// a token made a payment method, confirm (success, decline, 3-D Secure),
// retrieve, cancel, refund.
func everyCall(t *testing.T, gw *gateway.Stripe) {
	ctx := testenv.Context(t)
	for i, m := range []payment.Method{
		{Token: stripestandin.CardVisa}, {PaymentMethod: stripestandin.PMDeclined}, {Token: stripestandin.CardThreeDSecure},
	} {
		in, err := gw.CreateIntent(ctx, payment.IntentRequest{IdempotencyKey: payment.IntentKey("64b00000000000000000000a", i+1),
			OrderID: "64b00000000000000000000a", Amount: 2050, Currency: "usd"})
		require.NoError(t, err)
		_, _ = gw.ConfirmIntent(ctx, in.ID, m, payment.ConfirmKey(in.ID, m, time.Now()))
		_, err = gw.GetIntent(ctx, in.ID)
		require.NoError(t, err)
		switch i {
		case 0:
			_, err = gw.Refund(ctx, payment.RefundKey("64b00000000000000000000a"), in.ID)
		default:
			_, err = gw.CancelIntent(ctx, in.ID, payment.CancelKey(in.ID))
		}
		require.NoError(t, err)
	}
}

// TestEveryRequestTheStandInTakesStripeMockTakesToo is the stand-in's
// contract: stripe-mock checks requests against Stripe's OpenAPI
// description, so a request it refuses is one Stripe would refuse, however
// the stand-in answered it.
func TestEveryRequestTheStandInTakesStripeMockTakesToo(t *testing.T) {
	stripe, gw := standIn(t)
	everyCall(t, gw)
	sent := stripe.Requests("/v1/")
	require.GreaterOrEqual(t, len(sent), 12)
	mock := testenv.StripeMockURL(t)
	kinds := map[string]bool{}
	for _, r := range sent {
		var body io.Reader
		if r.Method == http.MethodPost {
			body = strings.NewReader(r.Form.Encode())
		}
		req, err := http.NewRequest(r.Method, mock+r.Path, body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, "%s %s %s: %s", r.Method, r.Path, r.Form.Encode(), raw)
		kinds[r.Method+" "+kind(r.Path)] = true
	}
	assert.Len(t, kinds, 6, "create, retrieve, confirm, cancel, payment method, refund: %v", kinds)
}

func kind(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 4 {
		return parts[1] + "/:id/" + parts[3]
	}
	if len(parts) == 3 {
		return parts[1] + "/:id"
	}
	return parts[1]
}

// TestARealStripeGoRoundTripThroughStripeMock: stripe-go against Stripe's
// official mock, answers parsed as payments reads them.
func TestARealStripeGoRoundTripThroughStripeMock(t *testing.T) {
	ctx := testenv.Context(t)
	gw := gateway.New(gateway.Config{Key: testKey, APIBase: testenv.StripeMockURL(t), Logger: testenv.Logger(t)})
	in, err := gw.CreateIntent(ctx, intentFor("64b00000000000000000000b", 2050))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(in.ID, "pi_"), in.ID)
	m := payment.Method{Token: stripestandin.CardVisa}
	_, err = gw.ConfirmIntent(ctx, in.ID, m, payment.ConfirmKey(in.ID, m, time.Now()))
	require.NoError(t, err)
	_, err = gw.GetIntent(ctx, in.ID)
	require.NoError(t, err)
	_, err = gw.CancelIntent(ctx, in.ID, payment.CancelKey(in.ID))
	require.NoError(t, err)
	refundID, err := gw.Refund(ctx, payment.RefundKey("64b00000000000000000000b"), in.ID)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(refundID, "re_"), refundID)
}
