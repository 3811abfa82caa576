package testenv

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// NewMonitoredNATS starts a dedicated NATS Streaming server (memory store) with
// its monitoring endpoint on, as Kubernetes and the runner run it, and returns
// it with the endpoint's URL.
func NewMonitoredNATS(t testing.TB) (*NATS, string) {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	monitor, err := FreePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p, err := startProcess("nats-streaming-server", port,
		"-cid", ClusterID, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(monitor))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	n := &NATS{broker{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), proc: p}}
	t.Cleanup(n.shutdown)
	if err := waitForPort(monitor, 30*time.Second, p.done); err != nil {
		t.Fatalf("testenv: NATS Streaming's monitoring port: %v", err)
	}
	return n, fmt.Sprintf("http://127.0.0.1:%d", monitor)
}
