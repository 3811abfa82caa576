package harness_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/stan.go"
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
	out, err := harness.Run(bin, map[string]string{"ORDER_EXPIRATION_WINDOW": "soon", "MONGO_URI": "", "NATS_URL": sys.NATS.URL})
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

	conn, err := stan.Connect(testenv.ClusterID, testenv.RandomName("poison"), stan.NatsURL(sys.NATS.URL))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Publish(string(events.SubjectOrderCreated), []byte("not an event")))

	require.Eventually(t, func() bool { return len(sys.Parked("tickets-service")) > 0 }, 20*time.Second, 100*time.Millisecond)
	parked := sys.Parked("tickets-service")
	require.Len(t, parked, 1)
	assert.Equal(t, string(events.SubjectOrderCreated), parked[0].Subject)
	assert.Contains(t, parked[0].Reason, "malformed")
	assert.Empty(t, sys.Parked("orders-service"))
}
