package bus_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
)

// In production the broker is three clustered NATS Streaming nodes and every
// service's NATS_URL lists all of them (infra/k8s/overlays/prod). Taking down
// each node in turn, leader or not, the client keeps publishing through the
// others and the durable subscription delivers every event published.
func TestAClientOfTheClusteredBrokerRidesOutTheLossOfAnyNode(t *testing.T) {
	ctx := testenv.Context(t)
	cl := testenv.NewNATSCluster(t)
	require.Eventually(t, cl.Formed, testenv.Wait, testenv.Tick, "the nodes elect a leader: %v", cl.Roles)
	cfg := cl.BusConfigAs(t, "redrive") // the one user that may publish on a test's own channel
	cfg.PubAckWait = time.Second
	c := testenv.ConnectBus(t, cfg)
	tp := newTopic(cl.URL)
	rec := &recorder{}
	tp.subscribe(t, c, "q", rec.handle, 0)
	first := tp.publish(t, c, "first")
	require.Eventually(t, rec.has(first.ID), testenv.Wait, testenv.Tick)

	for i, node := range cl.Nodes {
		node.Stop(t)
		e := tp.envelope(t, fmt.Sprintf("without node %d", i))
		start := time.Now()
		require.Eventually(t, func() bool { return c.Publish(ctx, e) == nil }, testenv.Wait, testenv.Tick,
			"publishing with node %d down (roles %v)", i, cl.Roles())
		t.Logf("node %d down: published after %s", i, time.Since(start).Round(time.Millisecond))
		require.Eventually(t, rec.has(e.ID), testenv.Wait, testenv.Tick, "delivered with node %d down", i)
		node.Start(t)
		require.Eventually(t, cl.Formed, testenv.Wait, testenv.Tick, "node %d rejoins", i)
	}
	assert.Contains(t, rec.ids(), first.ID)
}
