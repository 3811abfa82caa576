package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMetricsCountReservationsWonAndRefused(t *testing.T) {
	e := ordertest.New(t)
	ticket := e.ListTicket("seller", "Concert", 2000)
	winner, other := primitive.NewObjectID().Hex(), primitive.NewObjectID().Hex()
	won := reserve(t, e, e.User(winner), ticket)
	retry := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticket}, apitest.As(e.User(winner)))
	require.Equal(t, http.StatusOK, retry.Status, "the winner's retry is the same order")
	for range 3 {
		res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticket}, apitest.As(e.User(other)))
		require.Equal(t, http.StatusConflict, res.Status, res.Raw)
	}
	own := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": ticket}, apitest.As(e.User("seller")))
	require.Equal(t, http.StatusBadRequest, own.Status, own.Raw)

	s := metricstest.Read(t, e.API)
	assert.Equal(t, 1.0, s.Value(metrics.ReservationsWon), "one reservation won; the retry is not another")
	assert.Equal(t, 3.0, s.Value(metrics.ReservationsRefused, "reason", metrics.RefusedReserved), "three refused: reserved")
	assert.Equal(t, 1.0, s.Value(metrics.ReservationsRefused, "reason", metrics.RefusedOwnTicket))
	assert.Equal(t, 4.0, s.Value(metrics.ReservationsRefused), "nothing else refused")
	assert.Equal(t, 6.0, s.Value(metrics.HTTPRequests, "route", "/api/orders", "method", "POST"), "every reservation request, by pattern")
	assert.Equal(t, 1.0, s.Value(metrics.HTTPRequests, "route", "/api/orders", "method", "POST", "status", "201"))

	show := e.API.Do("GET", "/api/orders/"+won.ID, nil, apitest.As(e.User(winner)))
	require.Equal(t, http.StatusOK, show.Status)
	s = metricstest.Read(t, e.API)
	assert.Equal(t, 1.0, s.Value(metrics.HTTPRequests, "route", "/api/orders/{id}", "method", "GET", "status", "200"),
		"an order's route is its pattern, never its id")
	metricstest.RequireBounded(t, s, []string{"/api/orders", "/api/orders/{id}", "/healthz", "/readyz", metrics.Path},
		ticket, winner, other, won.ID, e.User(winner), e.User(other))
	assert.Equal(t, 0.0, s.Value(metrics.EventsPublished, "subject", string(events.SubjectTicketCreated)),
		"orders never publishes what tickets owns")
}

func TestMetricsCountHoldsTheLapseExpiredAndHowLate(t *testing.T) {
	e := ordertest.New(t)
	buyer := e.User(primitive.NewObjectID().Hex())
	reserve(t, e, buyer, e.ListTicket("seller", "Early", 1000))
	reserve(t, e, buyer, e.ListTicket("seller", "Late", 1000))
	late := 3 * time.Minute
	e.Store.WithClock(func() time.Time { return time.Now().Add(e.Window + late) })
	n, err := e.Store.Lapse(context.Background())
	e.Store.WithClock(time.Now)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	s := metricstest.Read(t, e.API)
	by := []string{"by", metrics.LapsedByOrdersSweep}
	assert.Equal(t, 2.0, s.Value(metrics.HoldsLapsed, by...), "both holds lapsed by the sweep")
	assert.Equal(t, 2.0, s.Value(metrics.HoldLapseLateness, by...), "and how late each was")
	sum := s[metrics.HoldLapseLateness].GetMetric()[0].GetHistogram().GetSampleSum()
	assert.InDelta(t, 2*late.Seconds(), sum, 10, "each about %s late", late)
	assert.Zero(t, s.Value(metrics.HoldsLapsed, "by", metrics.LapsedByExpiration), "orders lapses only what expiration did not")
}
