package service_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/config"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testenv"
)

// readyBody is what /readyz answers right now.
func (r *running) readyBody(t *testing.T) (int, string) {
	t.Helper()
	res := r.API.Do("GET", "/readyz", nil)
	return res.Status, strings.TrimSpace(res.Raw)
}

// A broker outage delays the events of a service with a database (they wait
// in its outbox) but takes none of its requests down: it stays ready,
// reporting the broker as degraded. A service without a database (expiration)
// has nothing to do without the broker, and is unready.
func TestABrokerOutageDegradesAServiceWithADatabaseAndStopsOneWithout(t *testing.T) {
	t.Parallel()
	nats := testenv.NewBroker(t)
	open := func(needs config.Service) *running {
		deps, err := service.Open(testenv.Context(t), needs, config.Common{
			MongoURI: testenv.MongoURI(t), NATSURL: nats.URL, NATSClusterID: testenv.ClusterID, EventBus: nats.Transport,
			NATSClientID: testenv.RandomName(needs.Name),
		}, testenv.Logger(t))
		require.NoError(t, err)
		return serve(t, deps)
	}
	withDB := open(config.Service{Name: "withdb", Mongo: true, NATS: true})
	withoutDB := open(config.Service{Name: "withoutdb", NATS: true})
	ok := `{"status":"ok"}`
	for _, r := range []*running{withDB, withoutDB} {
		require.Eventually(t, func() bool { _, body := r.readyBody(t); return body == ok }, testenv.Wait, testenv.Tick)
	}

	nats.Stop(t)
	require.Eventually(t, func() bool { status, _ := withoutDB.readyBody(t); return status == http.StatusServiceUnavailable },
		testenv.Wait, testenv.Tick, "without a database, the broker gates readiness")
	status, body := withDB.readyBody(t)
	assert.Equal(t, http.StatusOK, status, "with a database, the broker only degrades: %s", body)
	assert.JSONEq(t, `{"status":"degraded","degraded":[{"message":"nats is not reachable"}]}`, body)

	nats.Start(t)
	for _, r := range []*running{withDB, withoutDB} {
		require.Eventually(t, func() bool { _, body := r.readyBody(t); return body == ok }, testenv.Wait, testenv.Tick)
	}
}
