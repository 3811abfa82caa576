package testenv

import "testing"

// wholeCluster acts on every node of a three-node broker at once, as an
// outage of the whole broker would: a test written against one broker
// (Stop, Kill, Start) runs unchanged against a cluster.
type wholeCluster struct{ nodes []*broker }

// Stop stops every node (SIGTERM), keeping their stores.
func (c *wholeCluster) Stop(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		n.Stop(t)
	}
}

// Kill ends every node at once (SIGKILL), keeping their stores.
func (c *wholeCluster) Kill(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		n.Kill(t)
	}
}

// Start starts every stopped node again, on the same addresses and stores.
func (c *wholeCluster) Start(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		n.Start(t)
	}
}

// KillNode ends node i at once (SIGKILL), as a crash or a lost machine would.
func (c *wholeCluster) KillNode(t testing.TB, i int) {
	t.Helper()
	c.nodes[i].Kill(t)
}

// StartNode starts node i again, on its address and store.
func (c *wholeCluster) StartNode(t testing.TB, i int) {
	t.Helper()
	c.nodes[i].Start(t)
}
