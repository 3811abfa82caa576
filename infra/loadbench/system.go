package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// system is the marketplace under load: its gateway, its data folder (where
// the runner keeps each process's pid) and its database.
type system struct {
	baseURL  string
	dataDir  string
	mongoURI string
	// runnerPID is the runner we started (its gateway lives in it); 0 when
	// attached to someone else's.
	runnerPID int
	// ownLimits says the signin limit per address was raised for this run
	// (see signinLimitEnv); an attached system keeps whatever it has.
	ownLimits bool
	logPath   string
	stop      func(keep bool)
}

// goServices are the processes the memory targets are about. The runner's
// other children (FerretDB, NATS Streaming, Redis, stripe-mock) are reported
// for information only.
var goServices = []string{"auth", "tickets", "orders", "expiration", "payments"}

// signinLimitEnv raises auth's per-address signin limit for a benchmark run
// only: every benchmark request reaches auth from 127.0.0.1 through the
// gateway, which a real crowd does not. The per-email limit stays as it is;
// the benchmark spreads its signins over many emails instead.
var signinLimitEnv = []string{"SIGNIN_ADDRESS_BURST=1000000", "SIGNIN_ADDRESS_EVERY=1ms"}

// startSystem runs bin/runner on free ports with a temporary data folder and
// waits until its gateway answers. Ports are only known to be free when
// they are chosen, so a runner that loses one to another process on the
// machine (it exits, naming the port) is started again on others.
func startSystem(ctx context.Context, root string) (*system, error) {
	runner := filepath.Join(root, "bin", "runner")
	if _, err := os.Stat(runner); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build tools` first (make bench does)", runner)
	}
	var errs []error
	for attempt := range 3 {
		s, err := startRunner(ctx, root, runner, attempt)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !errors.Is(err, errRunnerExited) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

var errRunnerExited = errors.New("the runner exited")

func startRunner(ctx context.Context, root, runner string, attempt int) (*system, error) {
	tmp, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return nil, err
	}
	gatewayPort, basePort, err := freePorts(attempt)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	logPath := filepath.Join(tmp, "runner.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	dataDir := filepath.Join(tmp, "data")
	cmd := exec.Command(runner)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"DATA_DIR="+dataDir,
		"GATEWAY_PORT="+strconv.Itoa(gatewayPort),
		"BASE_PORT="+strconv.Itoa(basePort),
		"NO_CLIENT=1",
	)
	cmd.Env = append(cmd.Env, signinLimitEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The runner dies with us even if we are killed outright; it stops its
	// own children when it goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s := &system{
		baseURL:   fmt.Sprintf("http://127.0.0.1:%d", gatewayPort),
		dataDir:   dataDir,
		mongoURI:  fmt.Sprintf("mongodb://127.0.0.1:%d/", basePort),
		runnerPID: cmd.Process.Pid,
		ownLimits: true,
		logPath:   logPath,
	}
	s.stop = func(keep bool) {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if !keep {
			os.RemoveAll(tmp)
		}
	}
	if err := s.waitReady(ctx, 3*time.Minute, exited); err != nil {
		s.stop(true)
		log := tail(logPath, 3000)
		os.RemoveAll(tmp)
		if errors.Is(err, errRunnerExited) {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		}
		return nil, fmt.Errorf("%w; its last output:\n%s", err, log)
	}
	return s, nil
}

// attachSystem uses a system someone else runs.
func attachSystem(ctx context.Context, baseURL, dataDir string, basePort int) (*system, error) {
	s := &system{
		baseURL:  strings.TrimSuffix(baseURL, "/"),
		dataDir:  dataDir,
		mongoURI: fmt.Sprintf("mongodb://127.0.0.1:%d/", basePort),
		stop:     func(bool) {},
	}
	if len(s.pids()) == 0 {
		return nil, fmt.Errorf("no pid files in %s: is DATA_DIR the running system's data folder?", filepath.Join(dataDir, "run"))
	}
	return s, s.waitReady(ctx, 10*time.Second, nil)
}

// waitReady polls the gateway until the API answers. The runner opens the
// gateway only once every process is ready.
func (s *system) waitReady(ctx context.Context, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get(s.baseURL + "/api/users/currentuser")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errRunnerExited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s", s.baseURL, limit)
		}
	}
}

// pids reads the runner's pid files: process name -> pid. A process that is
// restarting has no file for a moment.
func (s *system) pids() map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir(filepath.Join(s.dataDir, "run"))
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dataDir, "run", e.Name()))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			out[name] = pid
		}
	}
	if s.runnerPID != 0 {
		out["runner+gateway"] = s.runnerPID
	}
	return out
}

// freePorts finds a gateway port and a block of 21 free ports below it for
// the runner's BASE_PORT offsets. They lie under 32768, where Linux's
// ephemeral ports (the local ends of outgoing connections, which any process
// on the machine may take at any moment) begin.
func freePorts(seed int) (gateway, base int, err error) {
	for attempt := range 50 {
		candidate := 20000 + (os.Getpid()*13+seed*4999+attempt*101)%12000
		ok := true
		for p := candidate; p <= candidate+21 && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return candidate + 21, candidate, nil
		}
	}
	return 0, 0, errors.New("no free block of 22 ports on loopback")
}

// findRoot walks up from the working directory to the folder holding go.work.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.work); set TICKETING_ROOT")
		}
		dir = parent
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// goMaxProcs reads GOMAXPROCS from a process's environment.
func goMaxProcs(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return 0, false
	}
	return envInt(string(b), "GOMAXPROCS")
}

// envInt finds name=<whole number> in a NUL-separated environment block.
func envInt(environ, name string) (int, bool) {
	for _, kv := range strings.Split(environ, "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil && n > 0
		}
	}
	return 0, false
}
