//go:build !external

package e2e

import (
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/runner/launch"
)

// Ctrl-C leaves no process and no port behind, and a second run over the same
// data folder finds everything the first one stored.
func TestARunStopsCleanlyAndTheNextReusesItsData(t *testing.T) {
	dataDir := t.TempDir()
	first, err := startRunner(system.root, dataDir, "NO_CLIENT=1")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	seller := &user{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: "kept@example.com"}
	withBase(first.BaseURL, func() {
		seller.mustDo("POST", "/api/users/signup", map[string]string{"email": seller.email, "password": "password123"}, http.StatusCreated, nil)
		seller.list(t, "kept across runs")
	})
	pids := launch.PIDs(dataDir)
	if len(pids) < 8 {
		t.Fatalf("want a pid file per process, got %v", pids)
	}

	if err := first.Stop(); err != nil {
		t.Fatalf("the runner did not stop cleanly: %v\n%s", err, launch.Tail(first.LogPath, 20000))
	}
	for name, pid := range pids {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			t.Errorf("%s (pid %d) is still running after Ctrl-C", name, pid)
		}
	}
	ports := []int{first.GatewayPort}
	for _, off := range []int{0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14} {
		ports = append(ports, first.BasePort+off)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d is still taken after Ctrl-C: %v", p, err)
			continue
		}
		l.Close()
	}

	second, err := startRunner(system.root, dataDir, "NO_CLIENT=1")
	if err != nil {
		t.Fatalf("a second run over the same data did not start: %v", err)
	}
	defer func() { _ = second.Stop() }()
	withBase(second.BaseURL, func() {
		jar, _ := cookiejar.New(nil)
		again := &user{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: seller.email}
		again.mustDo("POST", "/api/users/signin", map[string]string{"email": seller.email, "password": "password123"}, http.StatusOK, nil)
		var page struct {
			Tickets []ticket `json:"tickets"`
		}
		again.mustDo("GET", "/api/tickets/mine", nil, http.StatusOK, &page)
		if len(page.Tickets) != 1 || page.Tickets[0].Title != "kept across runs" {
			t.Fatalf("the seller's listing did not survive the restart: %+v", page.Tickets)
		}
	})
}

// The runner runs the system on the transport the suite was asked for: its
// broker is NATS Streaming or nats-server with JetStream, and redrive is
// told which (DATA_DIR/run/redrive.env).
func TestTheSystemRunsOnTheEventBusAsked(t *testing.T) {
	broker := map[string]string{"stan": "nats-streaming", "jetstream": "jetstream"}[testenv.BusTransport()]
	if broker == "" {
		t.Fatalf("EVENT_BUS=%q is not stan or jetstream", testenv.BusTransport())
	}
	if _, ok := launch.PIDs(system.dataDir)[broker]; !ok {
		t.Fatalf("EVENT_BUS=%s, but the runner runs no %s: %v", testenv.BusTransport(), broker, launch.PIDs(system.dataDir))
	}
	b, err := os.ReadFile(filepath.Join(system.dataDir, "run", "redrive.env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "EVENT_BUS="+testenv.BusTransport()+"\n") {
		t.Fatalf("redrive is not told EVENT_BUS=%s (its settings hold a password, not shown)", testenv.BusTransport())
	}
}

// withBase points the package's helpers at another runner for the length of f.
func withBase(url string, f func()) {
	saved := system.baseURL
	system.baseURL = url
	defer func() { system.baseURL = saved }()
	f()
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(b), ") Z ")
}
