package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
	n, err := startNATS(false)
	if err != nil {
		return "", nil, err
	}
	return n.URL, n.shutdown, nil
}

// NATS is a NATS Streaming server of one test's own, with a file store, that
// the test may stop and start again at the same address.
type NATS struct {
	URL  string
	proc *process
	dir  string
}

// NewNATS starts a dedicated, restartable NATS Streaming server.
func NewNATS(t testing.TB) *NATS {
	t.Helper()
	n, err := startNATS(true)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(n.shutdown)
	return n
}

func startNATS(fileStore bool) (*NATS, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-cid", ClusterID, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	dir := ""
	if fileStore {
		if dir, err = os.MkdirTemp("", "testenv-nats-"); err != nil {
			return nil, err
		}
		args = append(args, "-store", "file", "-dir", dir)
	}
	p, err := startProcess("nats-streaming-server", port, args...)
	if err != nil {
		return nil, err
	}
	return &NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), proc: p, dir: dir}, nil
}

// Stop stops the server, keeping its store.
func (n *NATS) Stop(t testing.TB) {
	t.Helper()
	n.proc.stop()
}

// Start starts the stopped server again on the same address and store.
func (n *NATS) Start(t testing.TB) {
	t.Helper()
	if err := n.proc.start(); err != nil {
		t.Fatalf("testenv: restarting NATS Streaming: %v", err)
	}
}

func (n *NATS) shutdown() {
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
	c := bus.New(BusConfig(url))
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.WaitConnected(Context(t)); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return c
}
