package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
)

var expiresAt = time.Date(2026, 3, 1, 12, 15, 0, 0, time.UTC)

// The wire format of every event of DESIGN.md §4: its subject and its fields.
var wire = []struct {
	payload events.Payload
	subject events.Subject
	data    string
}{
	{events.UserCreated{ID: "u1", Email: "a@b.c"}, "user:created", `{"id":"u1","email":"a@b.c"}`},
	{events.TicketCreated{ID: "t1", Version: 0, Title: "Gig", Price: 2050, UserID: "u1"},
		"ticket:created", `{"id":"t1","version":0,"title":"Gig","price":20.5,"userId":"u1"}`},
	{events.TicketUpdated{ID: "t1", Version: 2, Title: "Gig", Price: 1999, UserID: "u1"},
		"ticket:updated", `{"id":"t1","version":2,"title":"Gig","price":19.99,"userId":"u1"}`},
	{events.TicketUpdated{ID: "t1", Version: 3, Title: "Gig", Price: 1999, UserID: "u1", OrderID: "o1", Sold: true},
		"ticket:updated", `{"id":"t1","version":3,"title":"Gig","price":19.99,"userId":"u1","orderId":"o1","sold":true}`},
	{events.OrderCreated{ID: "o1", Version: 0, Status: events.StatusCreated, UserID: "u2", ExpiresAt: expiresAt,
		Ticket: events.OrderTicket{ID: "t1", Price: 2000}},
		"order:created", `{"id":"o1","version":0,"status":"created","userId":"u2","expiresAt":"2026-03-01T12:15:00Z","ticket":{"id":"t1","price":20}}`},
	{events.OrderCancelled{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}},
		"order:cancelled", `{"id":"o1","version":1,"ticket":{"id":"t1"}}`},
	{events.OrderCompleted{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}},
		"order:completed", `{"id":"o1","version":1,"ticket":{"id":"t1"}}`},
	{events.ExpirationComplete{OrderID: "o1"}, "expiration:complete", `{"orderId":"o1"}`},
	{events.PaymentCreated{ID: "p1", OrderID: "o1", StripeID: "ch_1"}, "payment:created", `{"id":"p1","orderId":"o1","stripeId":"ch_1"}`},
}

func TestWireFormat(t *testing.T) {
	for _, tc := range wire {
		t.Run(string(tc.subject), func(t *testing.T) {
			e, err := events.New(tc.payload)
			require.NoError(t, err)
			assert.Equal(t, tc.subject, e.Subject)
			assert.JSONEq(t, tc.data, string(e.Data))
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	p := events.OrderCreated{ID: "o1", Status: events.StatusCreated, UserID: "u2", ExpiresAt: expiresAt,
		Ticket: events.OrderTicket{ID: "t1", Price: 1999}}
	e, err := events.New(p)
	require.NoError(t, err)
	assert.NotEmpty(t, e.ID)
	assert.WithinDuration(t, time.Now(), e.OccurredAt, time.Minute)

	b, err := json.Marshal(e)
	require.NoError(t, err)
	var back events.Envelope
	require.NoError(t, json.Unmarshal(b, &back))
	got, err := events.Decode[events.OrderCreated](back)
	require.NoError(t, err)
	assert.Equal(t, p, got)
	assert.Equal(t, e.ID, back.ID)
}

func TestEveryEventGetsItsOwnID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		e, err := events.New(events.ExpirationComplete{OrderID: "o1"})
		require.NoError(t, err)
		require.False(t, seen[e.ID], "id %s issued twice", e.ID)
		seen[e.ID] = true
	}
}

func TestDecodeRefusesAnotherSubject(t *testing.T) {
	e, err := events.New(events.TicketCreated{ID: "t1"})
	require.NoError(t, err)
	_, err = events.Decode[events.OrderCreated](e)
	assert.Error(t, err)
}

func TestDecodeRefusesBadData(t *testing.T) {
	e := events.Envelope{ID: "e1", Subject: events.SubjectTicketCreated, Data: json.RawMessage(`{"price":"20"}`)}
	_, err := events.Decode[events.TicketCreated](e)
	assert.Error(t, err)
}

// An envelope carries its publisher's trace context, and one written before
// envelopes had any (or by a service without tracing) decodes as ever.
func TestEnvelopesWithAndWithoutATraceContextDecode(t *testing.T) {
	old := []byte(`{"id":"e1","subject":"order:cancelled","occurredAt":"2026-01-02T03:04:05Z","data":{"id":"o1","version":2,"ticket":{"id":"t1"}}}`)
	var env events.Envelope
	require.NoError(t, json.Unmarshal(old, &env))
	assert.Nil(t, env.Trace)
	p, err := events.Decode[events.OrderCancelled](env)
	require.NoError(t, err)
	assert.Equal(t, "o1", p.ID)

	env.Trace = tracing.Carrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	raw, err := json.Marshal(env)
	require.NoError(t, err)
	var back events.Envelope
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, env.Trace, back.Trace)
	env.Trace = nil
	raw, err = json.Marshal(env)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "trace", "no trace, no field: what older consumers read is unchanged")
}
