package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"ticketing.dev/common/bus"
)

// ClusterID is the NATS Streaming cluster id every test server uses.
const ClusterID = "ticketing"

var sharedNATS shared[string]

// NATSURL returns the URL of the package's shared NATS Streaming server.
func NATSURL(t testing.TB) string {
	t.Helper()
	return sharedNATS.get(t, startSharedNATS)
}

func startSharedNATS() (string, func(), error) {
	if UseContainers() {
		return runContainer("nats-streaming:0.25.6", "4222/tcp", "nats", "-cid", ClusterID, "-m", "8222")
	}
	n, err := startNATS(false, false)
	if err != nil {
		return "", nil, err
	}
	return n.URL, n.shutdown, nil
}

// broker is a server process of one test's own (or a package's shared
// one) that the test may stop, kill and start again at the same address
// and store.
type broker struct {
	URL  string
	proc *process
	dir  string
	// passwords holds every broker user's password when the server
	// authenticates; nil, it lets anyone in.
	passwords map[string]string
}

// NATS is a NATS Streaming server of one test's own, with a file store, that
// the test may stop and start again at the same address.
type NATS struct{ broker }

// NewNATS starts a dedicated, restartable NATS Streaming server.
func NewNATS(t testing.TB) *NATS {
	t.Helper()
	return newNATS(t, false)
}

// NewSecuredNATS starts a dedicated, restartable NATS Streaming server that
// authenticates its clients as a deployment's does: every user of bus.Users,
// each with a password of its own and the permissions bus.UserPermissions
// gives it. Reach it with BusConfigAs or Credential.
func NewSecuredNATS(t testing.TB) *NATS {
	t.Helper()
	return newNATS(t, true)
}

func newNATS(t testing.TB, secured bool) *NATS {
	t.Helper()
	n, err := startNATS(true, secured)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(n.shutdown)
	return n
}

func startNATS(fileStore, secured bool) (*NATS, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-cid", ClusterID, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	dir, err := os.MkdirTemp("", "testenv-nats-")
	if err != nil {
		return nil, err
	}
	n := &NATS{broker{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), dir: dir}}
	if fileStore {
		args = append(args, "-store", "file", "-dir", filepath.Join(dir, "store"))
	}
	if secured {
		conf, err := n.secure(bus.ServerConfig)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = append(args, "-c", conf)
	}
	if n.proc, err = startProcess("nats-streaming-server", port, args...); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return n, nil
}

// secure gives every broker user a random password and writes the server's
// configuration, as render makes it, into n's folder.
func (n *NATS) secure(render func(cluster string, creds []bus.Credential) (string, error)) (path string, err error) {
	conf, err := render(ClusterID, n.givePasswords(bus.Users()))
	if err != nil {
		return "", err
	}
	path = filepath.Join(n.dir, "nats.conf")
	return path, os.WriteFile(path, []byte(conf), 0o600)
}

// givePasswords gives each of users a random password and returns them.
func (n *broker) givePasswords(users []string) []bus.Credential {
	n.passwords = map[string]string{}
	var creds []bus.Credential
	for _, user := range users {
		n.passwords[user] = RandomName(user + "-pw")
		creds = append(creds, bus.Credential{User: user, Password: n.passwords[user]})
	}
	return creds
}

// Credential returns user's credentials on a secured server.
func (n *broker) Credential(t testing.TB, user string) bus.Credential {
	t.Helper()
	pw, ok := n.passwords[user]
	if !ok {
		t.Fatalf("testenv: the broker at %s has no user %q", n.URL, user)
	}
	return bus.Credential{User: user, Password: pw}
}

// BusConfigAs is BusConfig for user on a secured server.
func (n *NATS) BusConfigAs(t testing.TB, user string) bus.Config {
	t.Helper()
	cfg := BusConfig(n.URL)
	c := n.Credential(t, user)
	cfg.User, cfg.Password = c.User, c.Password
	return cfg
}

// Stop stops the server (SIGTERM), keeping its store.
func (n *broker) Stop(t testing.TB) {
	t.Helper()
	n.proc.stop()
}

// Kill ends the server at once (SIGKILL), as a crash would, keeping its store.
func (n *broker) Kill(t testing.TB) {
	t.Helper()
	n.proc.kill()
}

// Start starts the stopped server again on the same address and store.
func (n *broker) Start(t testing.TB) {
	t.Helper()
	if err := n.proc.start(); err != nil {
		t.Fatalf("testenv: restarting %s: %v", n.proc.name, err)
	}
}

func (n *broker) shutdown() {
	n.proc.stop()
	if n.dir != "" {
		os.RemoveAll(n.dir)
	}
}

// BusConfig returns a bus configuration for url with a unique client id and
// fast failure detection.
func BusConfig(url string) bus.Config {
	return bus.Config{
		URL:          url,
		ClusterID:    ClusterID,
		ClientID:     RandomName("test"),
		Logger:       slog.Default(),
		PingInterval: 1,
		PingMaxOut:   3,
	}
}

// NewBus returns a bus client connected to url, closed when the test ends.
func NewBus(t testing.TB, url string) *bus.Client {
	t.Helper()
	return ConnectBus(t, BusConfig(url))
}

// ConnectBus returns a bus client with cfg, connected, closed when the test
// ends.
func ConnectBus(t testing.TB, cfg bus.Config) *bus.Client {
	t.Helper()
	c := bus.New(cfg)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.WaitConnected(Context(t)); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return c
}
