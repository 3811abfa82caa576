package expiry_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
	"ticketing.dev/expiration/internal/expiry"
)

func TestAHoldNeedsAnOrderAndADeadline(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h, err := expiry.FromOrderCreated(events.OrderCreated{ID: "o1", ExpiresAt: at})
	require.NoError(t, err)
	assert.Equal(t, expiry.Hold{OrderID: "o1", ExpiresAt: at}, h)
	assert.Equal(t, "o1", h.TaskID(), "the order id is the job id")

	_, err = expiry.FromOrderCreated(events.OrderCreated{ExpiresAt: at})
	assert.ErrorIs(t, err, expiry.ErrInvalid)
	_, err = expiry.FromOrderCreated(events.OrderCreated{ID: "o1"})
	assert.ErrorIs(t, err, expiry.ErrInvalid)
}

func TestAJobIsDueInTheWholeSecondOfItsDeadlineAndWaitsOutTheRest(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		expiresAt time.Time
		startedAt time.Time
		remaining time.Duration
	}{
		{base, base, 0},
		{base.Add(700 * time.Millisecond), base, 700 * time.Millisecond},
		{base.Add(700 * time.Millisecond), base.Add(200 * time.Millisecond), 500 * time.Millisecond},
		{base.Add(700 * time.Millisecond), base.Add(2 * time.Second), 0},
	} {
		h := expiry.Hold{OrderID: "o", ExpiresAt: tc.expiresAt}
		assert.Equal(t, base, h.DueAt())
		assert.Equal(t, tc.remaining, h.Remaining(tc.startedAt))
	}
}

func TestPayloadRoundTrips(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	h, err := expiry.FromPayload(expiry.Hold{OrderID: "o1", ExpiresAt: at}.Payload())
	require.NoError(t, err)
	assert.Equal(t, "o1", h.OrderID)
	assert.True(t, at.Equal(h.ExpiresAt), "the deadline keeps its fraction of a second")

	for _, bad := range []string{``, `{`, `{}`, `{"orderId":""}`, `[]`, `{"orderId":"o","expiresAt":"soon"}`} {
		_, err := expiry.FromPayload([]byte(bad))
		assert.ErrorIs(t, err, expiry.ErrInvalid, bad)
	}
}

// A job carries the trace context of what scheduled it; a job scheduled
// before jobs had one runs as ever.
func TestPayloadCarriesTheTraceContext(t *testing.T) {
	trace := tracing.Carrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	h, err := expiry.FromPayload(expiry.Hold{OrderID: "o1", ExpiresAt: time.Now(), Trace: trace}.Payload())
	require.NoError(t, err)
	assert.Equal(t, trace, h.Trace)
	old, err := expiry.FromPayload([]byte(`{"orderId":"o1","expiresAt":"2030-01-02T03:04:05Z"}`))
	require.NoError(t, err)
	assert.Equal(t, "o1", old.OrderID)
	assert.Nil(t, old.Trace)
}

func TestTheExpiryEventIsTheSameEventEveryTime(t *testing.T) {
	a, err := expiry.Expired("o1")
	require.NoError(t, err)
	b, err := expiry.Expired("o1")
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID, "a job run twice announces one event twice, recognisably")
	other, err := expiry.Expired("o2")
	require.NoError(t, err)
	assert.NotEqual(t, a.ID, other.ID)

	p, err := events.Decode[events.ExpirationComplete](a)
	require.NoError(t, err)
	assert.Equal(t, "o1", p.OrderID)
}
