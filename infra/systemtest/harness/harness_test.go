package harness_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/systemtest/harness"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// A service stopped and started again serves on the same address from the
// same database; one that is stopped does not answer.
func TestAServiceSurvivesARestart(t *testing.T) {
	sys := harness.New(t)
	svc := sys.Start("tickets", nil)
	res := svc.API.Do("POST", "/api/tickets", `{"title":"Concert","price":10}`, apitest.As(sys.Session("seller")))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	id := res.Object(t)["id"].(string)

	svc.Stop()
	_, err := svc.API.Try("GET", "/api/tickets/"+id, nil)
	assert.Error(t, err, "a stopped service does not answer")

	svc.Start()
	assert.Equal(t, http.StatusOK, svc.API.Do("GET", "/api/tickets/"+id, nil).Status)
	assert.Contains(t, svc.Logs(), "---- start 2 ----")
}

func TestAMissingSettingStopsTheServiceWithItsName(t *testing.T) {
	sys := harness.New(t)
	// A test that expects failure cannot use Start (it fails the test), so
	// this checks the configuration error through the binary directly.
	bin := harness.Binary(t, "orders")
	out, err := harness.Run(bin, map[string]string{"ORDER_EXPIRATION_WINDOW": "soon", "MONGO_URI": "", "NATS_URL": sys.BrokerURL()})
	require.Error(t, err)
	assert.Contains(t, out, "MONGO_URI")
	assert.Contains(t, out, "ORDER_EXPIRATION_WINDOW")
}

// Parked reads a queue's parked channel to its end: nothing while nothing
// was parked, then exactly what the service parked, however often it is read.
func TestParkedReadsWhatAServiceParked(t *testing.T) {
	sys := harness.New(t)
	sys.Start("tickets", nil)
	assert.Empty(t, sys.Parked("tickets-service"))

	sys.PublishRaw(string(events.SubjectOrderCreated), []byte("not an event"))

	require.Eventually(t, func() bool { return len(sys.Parked("tickets-service")) > 0 }, 20*time.Second, 100*time.Millisecond)
	parked := sys.Parked("tickets-service")
	require.Len(t, parked, 1)
	assert.Equal(t, string(events.SubjectOrderCreated), parked[0].Subject)
	assert.Contains(t, parked[0].Reason, "malformed")
	assert.Empty(t, sys.Parked("orders-service"))
}

// Every service connects as its own broker user. One started with another
// service's credentials is refused every event it does not own: tickets
// posing as orders cannot put ticket:created on the wire, however long its
// relay retries, and nothing reaches the channel.
func TestTheBrokerRefusesEventsFromAServiceThatDoesNotOwnThem(t *testing.T) {
	sys := harness.New(t)
	watcher := testenv.Record(t, sys.Bus(), events.SubjectTicketCreated)
	orders := sys.NATS.Credential(t, "orders")
	impostor := sys.Start("tickets", harness.Env{"NATS_USER": orders.User, "NATS_PASSWORD": orders.Password})

	res := impostor.API.Do("POST", "/api/tickets", `{"title":"Concert","price":10}`, apitest.As(sys.Session("seller")))
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	require.Eventually(t, func() bool {
		return strings.Contains(impostor.Logs(), "publishing pending events; retrying")
	}, testenv.Wait, testenv.Tick, "the relay's publish is refused")
	assert.Empty(t, watcher.Envelopes(), "no ticket:created from a client that is not tickets")

	// The real tickets, on the same database, gets the pending event out.
	impostor.Stop()
	tickets := sys.NATS.Credential(t, "tickets")
	impostor.SetEnv("NATS_USER", tickets.User)
	impostor.SetEnv("NATS_PASSWORD", tickets.Password)
	impostor.Start()
	require.Eventually(t, func() bool { return len(watcher.Envelopes()) == 1 }, testenv.Wait, testenv.Tick)
}
