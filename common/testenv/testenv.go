// Package testenv gives tests real servers: a MongoDB-protocol server, NATS
// Streaming, JetStream (nats-server, single node or a 3-node cluster), Redis
// and stripe-mock (DESIGN.md §8).
//
// Where a Docker engine answers, the shared servers run in containers through
// testcontainers-go (set TESTENV=local to opt out). Elsewhere, as on the
// project's own CI machines, the helpers start the servers themselves on
// loopback from the binaries `make tools` builds into bin/ (and Debian's
// redis-server). Servers a test stops and restarts always run as local
// processes, so their address survives the restart.
//
// The shared NATS Streaming server and Redis admit anyone, as most tests need.
// NewSecuredNATS and NewSecuredRedis start servers that authenticate as the
// runner's and Kubernetes' do (the broker with bus.ServerConfig's users and
// permissions), for tests of that, and for the system tests, which run every
// service against them.
//
// One shared server of each kind serves a whole package run; each test gets
// its own database. Packages call Main from TestMain so the servers stop with
// the run. Only tests import this package: production binaries never link a
// test server.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

var (
	stopMu   sync.Mutex
	stoppers []func()
)

// onExit registers f to run when Main's test run ends.
func onExit(f func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stoppers = append(stoppers, f)
}

// Main runs the package's tests, then stops every shared server they started.
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops every shared server started so far (last started, first
// stopped). Main calls it; a TestMain that needs more than Main calls it itself.
func StopAll() {
	stopMu.Lock()
	defer stopMu.Unlock()
	for i := len(stoppers) - 1; i >= 0; i-- {
		stoppers[i]()
	}
	stoppers = nil
}

var (
	dockerOnce sync.Once
	dockerOK   bool
)

// UseContainers reports whether shared servers run in containers: a Docker
// engine answers and TESTENV is not "local".
func UseContainers() bool {
	dockerOnce.Do(func() {
		if os.Getenv("TESTENV") == "local" {
			return
		}
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			return
		}
		defer p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dockerOK = p.Health(ctx) == nil
	})
	return dockerOK
}

// binary finds a server binary: $TICKETING_BIN, then PATH, then the bin/ folder
// of the repository the test runs in.
func binary(name string) (string, error) {
	if dir := os.Getenv("TICKETING_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			p := filepath.Join(dir, "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("%s not found in $TICKETING_BIN, PATH or bin/: run `make tools` (or `make test`, which does it)", name)
}

// Test servers' ports come from [quietPortsFrom, quietPortsTo), below
// Linux's ephemeral ports (32768 on): a port the kernel chose for bind(:0) is
// one it may give the next moment to the local end of any outgoing
// connection, and the server then cannot bind it. A 3-node JetStream cluster
// whose node lost its route port that way never elects a meta leader, as its
// first start needs every node. The runner's blocks (launch.FreePorts) take
// 20000 on, so tests of both never pick each other's ports.
const (
	quietPortsFrom = 10000
	quietPortsTo   = 20000
)

// handedOut is every port FreePort returned in this process, never returned
// again: the ports of one cluster are distinct, and a stopped server's port
// stays its own for its restart.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a loopback port that was free a moment ago and that this
// process has not handed out before.
func FreePort() (int, error) {
	return freePort(func() int { return quietPortsFrom + rand.IntN(quietPortsTo-quietPortsFrom) })
}

// freePort is FreePort with the candidates from pick.
func freePort(pick func() int) (int, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 200 {
		port := pick()
		if handedOut.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		handedOut.ports[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in [%d, %d) after 200 tries", quietPortsFrom, quietPortsTo)
}

// process is a server the helpers started on loopback.
type process struct {
	name string
	path string
	args []string
	port int
	log  *bytes.Buffer
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (b lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func startProcess(name string, port int, args ...string) (*process, error) {
	path, err := binary(name)
	if err != nil {
		return nil, err
	}
	p := &process{name: name, path: path, args: args, port: port, log: &bytes.Buffer{}}
	return p, p.start()
}

func (p *process) start() error {
	p.mu.Lock()
	cmd := exec.Command(p.path, p.args...)
	out := lockedBuffer{&p.mu, p.log}
	cmd.Stdout, cmd.Stderr = out, out
	// If the test binary dies without running Main's cleanup, the server dies too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err := cmd.Start()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	if err := waitForPort(p.port, 30*time.Second, done); err != nil {
		p.stop()
		return fmt.Errorf("%s did not come up on port %d: %w\n%s", p.name, p.port, err, p.output())
	}
	return nil
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop ends the process (SIGTERM, then SIGKILL) and waits until its port is closed.
func (p *process) stop() { p.end(syscall.SIGTERM, 10*time.Second) }

// kill ends the process at once (SIGKILL), as a crash or a lost machine
// would, and waits for it.
func (p *process) kill() { p.end(syscall.SIGKILL, 0) }

// end sends sig, and kills the process's group if it is still there after grace.
func (p *process) end(sig syscall.Signal, grace time.Duration) {
	cmd, done := p.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// running is the process's command and the channel closed when it exits;
// a nil command if it never started.
func (p *process) running() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return nil, nil
	}
	return p.cmd, p.done
}

func waitForPort(port int, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shared starts a package-wide server once and registers its stop with Main.
type shared[T any] struct {
	once sync.Once
	val  T
	err  error
}

func (s *shared[T]) get(t testing.TB, start func() (T, func(), error)) T {
	t.Helper()
	v, err := s.start(start)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return v
}

// start is get outside a test, for TestMain.
func (s *shared[T]) start(start func() (T, func(), error)) (T, error) {
	s.once.Do(func() {
		var stop func()
		s.val, stop, s.err = start()
		if stop != nil {
			onExit(stop)
		}
	})
	return s.val, s.err
}

// Context returns a context that ends with the test, bounded by a minute.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Logger returns a logger that writes through t.Log, so a test's output shows
// what the code under test logged, and only for failing or verbose runs.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Wait bounds every wait of a test for something that should happen — long,
// so a busy machine never fails a test that would pass; Tick is how often a
// test looks meanwhile (require.Eventually(t, cond, testenv.Wait, testenv.Tick)).
const (
	Wait = 20 * time.Second
	Tick = 20 * time.Millisecond
)
