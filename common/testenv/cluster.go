package testenv

import (
	"strings"
	"testing"
)

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

// logOnFailure logs every node's own output when the test has failed, so
// that a cluster that never formed, or lost its leader for too long, says
// why from the servers' side.
func (c *wholeCluster) logOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, n := range c.nodes {
			t.Logf("---- broker node %d (%s) ----\n%s", i, n.proc.name, lastLines(n.proc.output(), 200))
		}
	})
}

// lastLines is the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
