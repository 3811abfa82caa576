package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testenv"
)

func TestMetricsCountHoldsLapsedAndHowLate(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	expiresAt := time.Now().Add(time.Second)
	ids := []string{testenv.RandomName("order"), testenv.RandomName("order")}
	for _, id := range ids {
		s.orderCreated(id, expiresAt)
	}
	for _, id := range ids {
		s.waitExpired(id, expiresAt)
	}

	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", s.port))
	by := []string{"by", metrics.LapsedByExpiration}
	var m metricstest.Samples
	require.Eventually(t, func() bool {
		m = metricstest.Read(t, api)
		return m.Value(metrics.HoldsLapsed, by...) == 2
	}, 10*time.Second, 20*time.Millisecond, "both holds counted once they lapsed")
	assert.Equal(t, 2.0, m.Value(metrics.HoldLapseLateness, by...), "with how late each was")
	sum := m[metrics.HoldLapseLateness].GetMetric()[0].GetHistogram().GetSampleSum()
	assert.Less(t, sum, 2*generousLateness.Seconds(), "lateness, not the window")
	subject := []string{"subject", string(events.SubjectExpirationComplete)}
	assert.Equal(t, 2.0, m.Value(metrics.EventsPublished, subject...), "expiration publishes without an outbox, and is counted")
	assert.Equal(t, 2.0, m.Value(metrics.EventsHandled, "subject", string(events.SubjectOrderCreated)))
	metricstest.RequireBounded(t, m, []string{"/healthz", "/readyz", metrics.Path}, ids...)
}
