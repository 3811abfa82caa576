package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/payments/internal/apptest"
)

func TestMetricsCountPaymentsByOutcome(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	declinedThenPaid := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusPaymentRequired, h.Pay("buyer", declinedThenPaid, "tok_chargeDeclinedInsufficientFunds").Status)
	require.Equal(t, http.StatusCreated, h.Pay("buyer", declinedThenPaid, "tok_visa").Status)
	require.Equal(t, http.StatusConflict, h.Pay("buyer", declinedThenPaid, "tok_visa").Status, "already paid")
	cancelled := h.Order("buyer", 2000, time.Hour)
	h.SetStatus(cancelled, 1, events.StatusCancelled)
	require.Equal(t, http.StatusConflict, h.Pay("buyer", cancelled, "tok_visa").Status)
	pending := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusAccepted, h.Pay("buyer", pending, "").Status)
	rejected := h.Order("buyer", 2000, time.Hour)
	require.Equal(t, http.StatusBadRequest, h.Pay("buyer", rejected, "tok_nope").Status)

	s := metricstest.Read(t, h.API)
	for outcome, want := range map[string]float64{
		metrics.PaymentSucceeded: 1, metrics.PaymentPending: 1, metrics.PaymentDeclined: 1, metrics.PaymentRefused: 2, metrics.PaymentRejected: 1,
		metrics.PaymentFailed: 0, metrics.PaymentLate: 0,
	} {
		assert.Equal(t, want, s.Value(metrics.PaymentsTotal, "outcome", outcome), outcome)
	}
	assert.Equal(t, 6.0, s.Value(metrics.PaymentsTotal))
	metricstest.RequireBounded(t, s, []string{"/api/payments", "/api/payments/webhook", "/healthz", "/readyz", metrics.Path},
		declinedThenPaid, cancelled, pending, rejected, "tok_visa", "tok_nope", h.Session("buyer"))
}
