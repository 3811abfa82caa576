// Package harness runs the services as real processes for tests that cross
// service boundaries: each service is its own binary, built from the
// workspace, started with the environment DESIGN.md §7 names, talking to one
// real broker (NATS Streaming, or JetStream with EVENT_BUS=jetstream:
// testenv.BusTransport) and to its own database on the shared
// MongoDB-protocol server. Tests drive them only as users and other services
// would: over HTTP and through events. A service and the broker can be
// stopped, killed and started again.
//
//	sys := harness.New(t)
//	tickets := sys.Start("tickets", nil)
//	orders := sys.Start("orders", harness.Env{"ORDER_EXPIRATION_WINDOW": "1m"})
//	res := tickets.API.Do("POST", "/api/tickets", body, apitest.As(sys.Session("seller")))
//
// Any service in the workspace can be started by its folder name; extra
// settings (REDIS_URL, STRIPE_KEY, ...) go in Env.
package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/logtest"
	"ticketing.dev/common/testenv"
)

// JWTKey is the key every service of a System shares, as in production.
const JWTKey = "systemtest-jwt-key-0123456789abcdef-0123456789"

// Env is extra (or overriding) environment for a service.
type Env map[string]string

// System is a set of service processes around one broker.
type System struct {
	t testing.TB
	// NATS is the system's own broker, on the transport EVENT_BUS names:
	// stop and start it to test outages. It authenticates as a
	// deployment's does (testenv.NewSecuredNATS, testenv.NewSecuredJetStream):
	// each service connects as its own user, allowed to publish only its
	// own channels.
	NATS Broker
	// Transport is the bus's transport every service of the system is
	// given (EVENT_BUS), bus.TransportStan or bus.TransportJetStream.
	Transport string
	// Cluster is the broker as three nodes, for a test that takes one of
	// them down (NewOnCluster); nil for a single-node broker. NATS is then
	// the whole cluster: stopping it stops every node.
	Cluster Cluster
	url     string
}

// SystemBrokerEnv names the variable that puts every System on a three-node
// broker cluster ("cluster") rather than one node (unset or "node"), as
// production runs it: `make test-systems-jetstream` sets it.
const SystemBrokerEnv = "SYSTEMTEST_BROKER"

// New starts a broker for the test, on the transport EVENT_BUS names (NATS
// Streaming unless it says jetstream): one node, or a three-node cluster
// when SYSTEMTEST_BROKER=cluster. Services start with Start.
func New(t testing.TB) *System {
	t.Helper()
	switch v := os.Getenv(SystemBrokerEnv); v {
	case "cluster":
		return NewOnCluster(t)
	case "", "node":
	default:
		t.Fatalf("harness: %s=%q is neither node nor cluster", SystemBrokerEnv, v)
	}
	s := &System{t: t, Transport: testenv.BusTransport()}
	if s.Transport == bus.TransportJetStream {
		js := testenv.NewSecuredJetStream(t)
		s.NATS, s.url = js, js.URL
	} else {
		n := testenv.NewSecuredNATS(t)
		s.NATS, s.url = n, n.URL
	}
	return s
}

// Service is one running (or stopped) service process.
type Service struct {
	Name string
	// URL is where it serves HTTP, the same across restarts.
	URL string
	// API talks to it.
	API *apitest.Client
	// DB is its database, for assertions a test cannot make through the API.
	DB *mongo.Database
	// DBProxy stands between the service and its database, to inject the
	// faults of a network (a lost answer, an outage) into their connection.
	DBProxy *testenv.FaultProxy

	t    testing.TB
	bin  string
	env  []string
	logs *logtest.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	runs int
}

// Start builds (once) and starts service name, and waits until its /readyz
// answers 200. It gets PORT, MONGO_URI (a database of its own), NATS_URL,
// NATS_CLUSTER_ID, NATS_CLIENT_ID, NATS_USER and NATS_PASSWORD (the broker
// user named after the service, when there is one), EVENT_BUS, JWT_KEY and
// COOKIE_SECURE=false; extra adds to or overrides them.
func (s *System) Start(name string, extra Env) *Service {
	s.t.Helper()
	bin := Binary(s.t, name)
	port, err := testenv.FreePort()
	require.NoError(s.t, err)
	uri := testenv.DatabaseURI(s.t)
	client, err := mongo.Connect(context.Background(), options.Client().ApplyURI(uri))
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	db := client.Database(dbName(uri))
	proxied, proxy := testenv.ProxyMongoURI(s.t, uri)

	env := Env{
		"PORT":            strconv.Itoa(port),
		"MONGO_URI":       proxied,
		"NATS_URL":        s.url,
		"EVENT_BUS":       s.Transport,
		"NATS_CLUSTER_ID": testenv.ClusterID,
		"JWT_KEY":         JWTKey,
		"COOKIE_SECURE":   "false",
	}
	// A JetStream cluster keeps the stream on every node; the broker says
	// how many (one node says nothing, the default).
	if r := s.NATS.BusConfigAs(s.t, bus.ObserverUser).Replicas; r > 1 {
		env["JETSTREAM_REPLICAS"] = strconv.Itoa(r)
	}
	if slices.Contains(bus.Users(), name) {
		c := s.NATS.Credential(s.t, name)
		env["NATS_USER"], env["NATS_PASSWORD"] = c.User, c.Password
	}
	for k, v := range extra {
		env[k] = v
	}
	svc := &Service{
		Name: name, URL: fmt.Sprintf("http://127.0.0.1:%d", port), DB: db, DBProxy: proxy,
		t: s.t, bin: bin, logs: &logtest.Buffer{},
	}
	for k, v := range env {
		svc.env = append(svc.env, k+"="+v)
	}
	svc.API = apitest.New(s.t, svc.URL)
	// Cleanups run last first: the process stops before its database goes.
	s.t.Cleanup(func() {
		svc.Stop()
		if s.t.Failed() {
			s.t.Logf("---- %s logs ----\n%s", svc.Name, svc.Logs())
		}
	})
	svc.Start()
	return svc
}

func dbName(uri string) string {
	for i := len(uri) - 1; i >= 0; i-- {
		if uri[i] == '/' {
			return uri[i+1:]
		}
	}
	return uri
}

// Start starts the (stopped) process again, on the same port and database,
// with a new NATS_CLIENT_ID as a new pod would have, and waits until ready.
func (svc *Service) Start() {
	svc.t.Helper()
	svc.mu.Lock()
	svc.runs++
	cmd := exec.Command(svc.bin)
	cmd.Env = append(os.Environ(), svc.env...)
	cmd.Env = append(cmd.Env, fmt.Sprintf("NATS_CLIENT_ID=%s-%s", svc.Name, testenv.RandomName(strconv.Itoa(svc.runs))))
	fmt.Fprintf(svc.logs, "---- start %d ----\n", svc.runs)
	cmd.Stdout, cmd.Stderr = svc.logs, svc.logs
	// The service dies with the test binary, even if cleanup never runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err := cmd.Start()
	done := make(chan struct{})
	if err == nil {
		go func() { _ = cmd.Wait(); close(done) }()
		svc.cmd, svc.done = cmd, done
	}
	svc.mu.Unlock()
	require.NoError(svc.t, err, "starting %s", svc.Name)
	svc.waitReady(done)
}

func (svc *Service) waitReady(exited <-chan struct{}) {
	svc.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			svc.t.Fatalf("harness: %s exited while starting:\n%s", svc.Name, svc.Logs())
		default:
		}
		res, err := client.Get(svc.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	svc.t.Fatalf("harness: %s not ready after 60s:\n%s", svc.Name, svc.Logs())
}

// SetEnv changes one setting for the process's next Start.
func (svc *Service) SetEnv(name, value string) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	// The last of duplicate variables is the one a process sees.
	svc.env = append(svc.env, name+"="+value)
}

// Stop shuts the process down gracefully (SIGTERM) and waits for it.
func (svc *Service) Stop() { svc.signal(syscall.SIGTERM) }

// Kill ends the process at once (SIGKILL), as a crash would.
func (svc *Service) Kill() { svc.signal(syscall.SIGKILL) }

func (svc *Service) signal(sig syscall.Signal) {
	svc.mu.Lock()
	cmd, done := svc.cmd, svc.done
	svc.cmd = nil
	svc.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Logs returns what the process wrote, every run included.
func (svc *Service) Logs() string { return svc.logs.String() }

// Session returns a session token for userID, signed with the system's
// JWT_KEY exactly as auth signs one.
func (s *System) Session(userID string) string {
	return apitest.Session(s.t, JWTKey, userID)
}

// Run runs a binary to completion with only env (and PATH) as its
// environment, for a test of how a service refuses to start.
func Run(bin string, env map[string]string) (string, error) {
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
