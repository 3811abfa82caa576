package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/bus"
)

// NATSCluster is three NATS Streaming servers clustered as the production
// overlay runs them (infra/k8s/overlays/prod/nats-cluster.yaml): Raft
// replication (-clustered) with every node a peer and the overlay's Raft
// timings (bus.ClusteredServerConfig), each node its own file store and Raft
// log, routes authenticated with the broker's own user, and
// clients authenticated as NewSecuredNATS's are.
type NATSCluster struct {
	// URL lists every node, comma-separated, as the services' NATS_URL does.
	URL   string
	Nodes []*NATS
	wholeCluster
	// monitors are the nodes' monitoring endpoints, for Roles.
	monitors []string
}

// NewNATSCluster starts a three-node cluster, stopped when the test ends.
// Each node may be stopped and started again (Nodes[i].Stop, .Start).
func NewNATSCluster(t testing.TB) *NATSCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "testenv-nats-cluster-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	first := &NATS{broker{dir: dir}}
	conf, err := first.secure(bus.ClusteredServerConfig)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	const size = 3
	ports, routes, peers := make([]int, size), make([]string, size), make([]string, size)
	for i := range size {
		if ports[i], err = FreePort(); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		route, err := FreePort()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		routes[i] = fmt.Sprintf("nats://stan:%s@127.0.0.1:%d", first.passwords["stan"], route)
		peers[i] = fmt.Sprintf("node-%d", i)
	}
	c := &NATSCluster{}
	var urls []string
	for i := range size {
		n, monitor, err := startClusterNode(dir, conf, i, ports[i], routes, peers)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		n.passwords = first.passwords
		t.Cleanup(n.proc.stop)
		c.Nodes, c.monitors = append(c.Nodes, n), append(c.monitors, monitor)
		c.nodes = append(c.nodes, &n.broker)
		urls = append(urls, n.URL)
	}
	c.URL = strings.Join(urls, ",")
	c.logOnFailure(t)
	return c
}

func startClusterNode(dir, conf string, i, port int, routes, peers []string) (*NATS, string, error) {
	monitor, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	node := filepath.Join(dir, peers[i])
	p, err := startProcess("nats-streaming-server", port,
		"-cid", ClusterID, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(monitor),
		"-store", "file", "-dir", filepath.Join(node, "store"), "-c", conf,
		"-clustered", "-cluster_node_id", peers[i], "-cluster_peers", strings.Join(peers, ","),
		"-cluster_log_path", filepath.Join(node, "raft"),
		"-cluster", routes[i], "-routes", strings.Join(routes, ","))
	if err != nil {
		return nil, "", err
	}
	return &NATS{broker{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), proc: p}}, fmt.Sprintf("http://127.0.0.1:%d", monitor), nil
}

// BusConfigAs is BusConfig for user, with every node's URL.
func (c *NATSCluster) BusConfigAs(t testing.TB, user string) bus.Config {
	t.Helper()
	cfg := c.Nodes[0].BusConfigAs(t, user)
	cfg.URL = c.URL
	return cfg
}

// Credential returns user's credentials, the same on every node.
func (c *NATSCluster) Credential(t testing.TB, user string) bus.Credential {
	t.Helper()
	return c.Nodes[0].Credential(t, user)
}

// Leader returns the index of the node that is the Raft leader, -1 while
// none is.
func (c *NATSCluster) Leader() int { return slices.Index(c.Roles(), "Leader") }

// Roles are the nodes' Raft roles ("Leader", "Follower", "Candidate"), ""
// for a node that does not answer.
func (c *NATSCluster) Roles() []string {
	out := make([]string, len(c.monitors))
	client := http.Client{Timeout: time.Second}
	for i, m := range c.monitors {
		resp, err := client.Get(m + "/streaming/serverz")
		if err != nil {
			continue
		}
		var body struct {
			Role string `json:"role"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) == nil {
			out[i] = body.Role
		}
		resp.Body.Close()
	}
	return out
}

// Formed reports whether every node is in the cluster: one leader, the rest
// followers.
func (c *NATSCluster) Formed() bool {
	leaders, followers := 0, 0
	for _, r := range c.Roles() {
		switch r {
		case "Leader":
			leaders++
		case "Follower":
			followers++
		}
	}
	return leaders == 1 && followers == len(c.Nodes)-1
}
