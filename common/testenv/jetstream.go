package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/bus"
)

// JetStream is a nats-server with JetStream of one test's own (or the
// package's shared one), on a file store of its own, that the test may stop,
// kill and start again at the same address and store.
type JetStream struct {
	broker
	// Name is the server's name, which JetStream reports a stream's leader by.
	Name string
}

var sharedJetStream shared[string]

// JetStreamURL returns the URL of the package's shared JetStream server,
// which lets anyone in.
func JetStreamURL(t testing.TB) string {
	t.Helper()
	return sharedJetStream.get(t, func() (string, func(), error) {
		n, err := startJetStream(false)
		if err != nil {
			return "", nil, err
		}
		return n.URL, n.shutdown, nil
	})
}

// NewJetStream starts a dedicated, restartable single-node JetStream server
// (bin/nats-server) that lets anyone in.
func NewJetStream(t testing.TB) *JetStream {
	t.Helper()
	return newJetStream(t, false)
}

// NewSecuredJetStream starts a dedicated JetStream server that authenticates
// every user of bus.JetStreamUsers with a password of its own and the
// permissions bus.JetStreamPermissions gives it.
func NewSecuredJetStream(t testing.TB) *JetStream {
	t.Helper()
	return newJetStream(t, true)
}

func newJetStream(t testing.TB, secured bool) *JetStream {
	t.Helper()
	n, err := startJetStream(secured)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(n.shutdown)
	return n
}

func startJetStream(secured bool) (*JetStream, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testenv-jetstream-")
	if err != nil {
		return nil, err
	}
	n := &JetStream{broker: broker{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), dir: dir}, Name: "js-" + strconv.Itoa(port)}
	conf := fmt.Sprintf("server_name: %q\nlisten: \"127.0.0.1:%d\"\njetstream { store_dir: %q }\n", n.Name, port, filepath.Join(dir, "store"))
	if secured {
		auth, err := n.secure()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		conf += auth
	}
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if n.proc, err = startProcess("nats-server", port, "-c", path); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return n, nil
}

// secure gives every JetStream user a random password and returns the
// authorization block.
func (n *JetStream) secure() (string, error) {
	return bus.JetStreamServerConfig(n.givePasswords(bus.JetStreamUsers()))
}

// BusConfigAs is JetStreamBusConfig for user on a secured server.
func (n *JetStream) BusConfigAs(t testing.TB, user string) bus.Config {
	t.Helper()
	cfg := JetStreamBusConfig(n.URL)
	c := n.Credential(t, user)
	cfg.User, cfg.Password = c.User, c.Password
	return cfg
}

// JetStreamBusConfig is BusConfig on the JetStream transport.
func JetStreamBusConfig(url string) bus.Config {
	cfg := BusConfig(url)
	cfg.Transport = bus.TransportJetStream
	return cfg
}

// JetStreamCluster is three JetStream servers clustered on loopback, each
// with its own store, routes between all of them, letting anyone in unless
// made by NewSecuredJetStreamCluster.
type JetStreamCluster struct {
	// URL lists every node, comma-separated, as a service's NATS_URL would.
	URL   string
	Nodes []*JetStream
	wholeCluster
	// auth holds the users' passwords of a secured cluster, the same on
	// every node.
	auth broker
}

// NewJetStreamCluster starts a three-node JetStream cluster, stopped when
// the test ends. Each node may be killed, stopped and started again.
func NewJetStreamCluster(t testing.TB) *JetStreamCluster {
	t.Helper()
	return newJetStreamCluster(t, false)
}

// NewSecuredJetStreamCluster is NewJetStreamCluster with every node
// authenticating the users of bus.JetStreamUsers as NewSecuredJetStream
// does, the same password for a user on every node.
func NewSecuredJetStreamCluster(t testing.TB) *JetStreamCluster {
	t.Helper()
	return newJetStreamCluster(t, true)
}

func newJetStreamCluster(t testing.TB, secured bool) *JetStreamCluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "testenv-jetstream-cluster-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &JetStreamCluster{}
	auth := ""
	if secured {
		if auth, err = bus.JetStreamServerConfig(c.auth.givePasswords(bus.JetStreamUsers())); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	const size = 3
	ports, routes := make([]int, size), make([]string, size)
	for i := range size {
		route, err := FreePort()
		if err == nil {
			ports[i], err = FreePort()
		}
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", route)
	}
	var urls []string
	for i := range size {
		n, err := startJetStreamNode(dir, i, ports[i], routes, auth)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		n.passwords = c.auth.passwords
		t.Cleanup(n.proc.stop)
		c.Nodes, c.nodes = append(c.Nodes, n), append(c.nodes, &n.broker)
		urls = append(urls, n.URL)
	}
	c.URL = strings.Join(urls, ",")
	c.auth.URL = c.URL
	c.logOnFailure(t)
	return c
}

func startJetStreamNode(dir string, i, port int, routes []string, auth string) (*JetStream, error) {
	name := fmt.Sprintf("node-%d", i)
	node := filepath.Join(dir, name)
	if err := os.MkdirAll(node, 0o700); err != nil {
		return nil, err
	}
	quoted := make([]string, len(routes))
	for j, r := range routes {
		quoted[j] = strconv.Quote(r)
	}
	conf := fmt.Sprintf(`server_name: %q
listen: "127.0.0.1:%d"
jetstream { store_dir: %q }
cluster {
  name: "ticketing"
  listen: %q
  routes: [%s]
}
`, name, port, filepath.Join(node, "store"), strings.TrimPrefix(routes[i], "nats-route://"), strings.Join(quoted, ", "))
	path := filepath.Join(node, "nats.conf")
	if err := os.WriteFile(path, []byte(conf+auth), 0o600); err != nil {
		return nil, err
	}
	p, err := startProcess("nats-server", port, "-c", path)
	if err != nil {
		return nil, err
	}
	return &JetStream{broker: broker{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), proc: p}, Name: name}, nil
}

// Credential returns user's credentials on a secured cluster.
func (c *JetStreamCluster) Credential(t testing.TB, user string) bus.Credential {
	t.Helper()
	return c.auth.Credential(t, user)
}

// BusConfigAs is BusConfig for user on a secured cluster.
func (c *JetStreamCluster) BusConfigAs(t testing.TB, user string) bus.Config {
	t.Helper()
	cfg := c.BusConfig()
	cr := c.Credential(t, user)
	cfg.User, cfg.Password = cr.User, cr.Password
	return cfg
}

// BusConfig is JetStreamBusConfig with every node's URL and the stream
// replicated on all three nodes.
func (c *JetStreamCluster) BusConfig() bus.Config {
	cfg := JetStreamBusConfig(c.URL)
	cfg.Replicas = len(c.Nodes)
	return cfg
}

// Leader returns the index of the node that leads bus.StreamName, or -1
// while none does (an election, or no stream yet). On a secured cluster it
// asks as the observer user.
func (c *JetStreamCluster) Leader() int {
	opts := []nats.Option{nats.Timeout(time.Second)}
	if pw, ok := c.auth.passwords[bus.ObserverUser]; ok {
		opts = append(opts, nats.UserInfo(bus.ObserverUser, pw))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return -1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamName)
	if err != nil {
		return -1
	}
	info := s.CachedInfo()
	if info.Cluster == nil {
		return -1
	}
	return slices.IndexFunc(c.Nodes, func(n *JetStream) bool { return n.Name == info.Cluster.Leader })
}
