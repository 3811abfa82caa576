package listeners_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/app"
	"ticketing.dev/expiration/internal/expiry"
	"ticketing.dev/expiration/internal/listeners"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// start runs expiration as main does, over a Redis of the test's own, with
// its listeners off the broker: the test hands them each event itself.
func start(t *testing.T) *servicetest.Service[*app.App] {
	t.Helper()
	return servicetest.Start(t, app.Service,
		servicetest.Set("REDIS_URL", testenv.NewRedis(t, false).URL), servicetest.Unsubscribed())
}

// jobState is where an order's job is in Redis, "none" when there is none.
func jobState(t *testing.T, svc *servicetest.Service[*app.App], orderID string) string {
	t.Helper()
	state, found, err := svc.App.Holds.State(orderID)
	require.NoError(t, err)
	if !found {
		return "none"
	}
	return state.String()
}

func created(id string, expiresAt time.Time) events.OrderCreated {
	return events.OrderCreated{ID: id, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: expiresAt,
		Ticket: events.OrderTicket{ID: "ticket-" + id, Price: 2000}}
}

func TestEveryOrderSubjectIsHeardWithItsDeliveryLimit(t *testing.T) {
	svc := start(t)
	subjects := map[events.Subject]bool{}
	for _, s := range svc.App.Subscriptions {
		subjects[s.Subject] = true
		assert.Equal(t, listeners.Queue, s.Queue, s.Subject)
		assert.Equal(t, 60, s.MaxDeliveries, "%s: a failure that is not an outage is parked after about ten minutes", s.Subject)
	}
	assert.Equal(t, map[events.Subject]bool{
		events.SubjectOrderCreated: true, events.SubjectOrderCancelled: true, events.SubjectOrderCompleted: true,
	}, subjects)
}

func TestAnOrderCreatedSchedulesOneHold(t *testing.T) {
	svc := start(t)
	m := testenv.Message(t, created("order-1", time.Now().Add(time.Hour)))
	require.NoError(t, svc.DeliverMessage(m))
	assert.Equal(t, "scheduled", jobState(t, svc, "order-1"))

	require.NoError(t, svc.DeliverMessage(m), "a redelivery finds the job there and is acked")
	require.NoError(t, svc.Deliver(created("order-1", time.Now().Add(2*time.Hour))), "so is the same order in a new envelope")
	assert.Equal(t, "scheduled", jobState(t, svc, "order-1"))
}

func TestAnOrderCreatedWithoutADeadlineIsRefused(t *testing.T) {
	svc := start(t)
	err := svc.Deliver(created("order-1", time.Time{}))
	require.ErrorIs(t, err, expiry.ErrInvalid)
	assert.Equal(t, "none", jobState(t, svc, "order-1"))
}

func TestACancelledOrCompletedOrderLosesItsHold(t *testing.T) {
	svc := start(t)
	for id, settle := range map[string]events.Payload{
		"cancelled": events.OrderCancelled{ID: "cancelled", Version: 1, Ticket: events.TicketRef{ID: "ticket-cancelled"}},
		"completed": events.OrderCompleted{ID: "completed", Version: 1, Ticket: events.TicketRef{ID: "ticket-completed"}},
	} {
		require.NoError(t, svc.Deliver(created(id, time.Now().Add(time.Hour))))
		require.Equal(t, "scheduled", jobState(t, svc, id))
		require.NoError(t, svc.Deliver(settle))
		assert.Equal(t, "none", jobState(t, svc, id), "%s removes the hold", settle.Subject())
	}
	require.NoError(t, svc.Deliver(events.OrderCancelled{ID: "never-seen", Version: 1}),
		"a cancellation of an order expiration never held is acked")
}
