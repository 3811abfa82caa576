// Package launch starts bin/runner as a child process on ports of its own, for
// the programs that test or measure the whole system from outside
// (infra/e2e, infra/loadbench), and reads what the runner leaves in its data
// folder.
package launch

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

// Options say where the runner is and how to run it.
type Options struct {
	// Root is the repository root; the runner is Root/bin/runner.
	Root string
	// DataDir is the runner's DATA_DIR.
	DataDir string
	// Env is added to the runner's environment (ORDER_EXPIRATION_WINDOW, ...).
	Env []string
	// LogPath receives the runner's output.
	LogPath string
	// ReadyTimeout bounds how long the system may take to answer (3 minutes).
	ReadyTimeout time.Duration
}

// Runner is one started bin/runner.
type Runner struct {
	BaseURL     string
	GatewayPort int
	BasePort    int
	PID         int
	LogPath     string

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	logFile *os.File
}

// ErrExited is returned when the runner exits before it is ready.
var ErrExited = errors.New("the runner exited")

// Start runs the runner on free ports and waits until its gateway answers.
// Ports are only known to be free when they are chosen, so a runner that loses
// one to another process (it exits, naming the port) is started again on
// other ports, up to three times.
func Start(ctx context.Context, o Options) (*Runner, error) {
	bin := filepath.Join(o.Root, "bin", "runner")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build tools` first", bin)
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 3 * time.Minute
	}
	var errs []error
	for attempt := range 3 {
		r, err := start(ctx, bin, o, attempt)
		if err == nil {
			return r, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !errors.Is(err, ErrExited) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func start(ctx context.Context, bin string, o Options, attempt int) (*Runner, error) {
	gatewayPort, basePort, err := FreePorts(attempt)
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Dir = o.Root
	cmd.Env = append(append(os.Environ(),
		"DATA_DIR="+o.DataDir,
		"GATEWAY_PORT="+strconv.Itoa(gatewayPort),
		"BASE_PORT="+strconv.Itoa(basePort),
	), o.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The runner dies with us even if we are killed outright; it stops its
	// own children when it goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	r := &Runner{
		BaseURL:     fmt.Sprintf("http://127.0.0.1:%d", gatewayPort),
		GatewayPort: gatewayPort,
		BasePort:    basePort,
		PID:         cmd.Process.Pid,
		LogPath:     o.LogPath,
		cmd:         cmd,
		exited:      make(chan struct{}),
		logFile:     logFile,
	}
	go func() { r.exitErr = cmd.Wait(); close(r.exited) }()
	if err := WaitReady(ctx, r.BaseURL, o.ReadyTimeout, r.exited); err != nil {
		_ = r.Stop()
		if errors.Is(err, ErrExited) {
			err = fmt.Errorf("%w (%v)", err, r.exitErr)
		}
		return nil, fmt.Errorf("%w; its last output:\n%s", err, Tail(o.LogPath, 4000))
	}
	return r, nil
}

// Exited is closed when the runner has exited.
func (r *Runner) Exited() <-chan struct{} { return r.exited }

// Stop sends Ctrl-C's signal and waits for the runner to finish; a runner that
// does not stop within a minute is killed and reported.
func (r *Runner) Stop() error {
	defer r.logFile.Close()
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.exited:
		return r.exitErr
	case <-time.After(time.Minute):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return errors.New("the runner did not stop within a minute of SIGINT")
	}
}

// WaitReady polls the gateway until the API answers. The runner opens its
// gateway only once every process is ready. exited may be nil.
func WaitReady(ctx context.Context, baseURL string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		res, err := client.Get(baseURL + "/api/users/currentuser")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s", baseURL, limit)
		}
	}
}

// FreePorts finds a gateway port and, below it, a block of 21 free ports for
// the runner's BASE_PORT offsets. They lie under 32768, where Linux's
// ephemeral ports (the local ends of outgoing connections, which any process
// may take at any moment) begin.
func FreePorts(seed int) (gateway, base int, err error) {
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

// PIDs reads the runner's pid files in dataDir: process name -> pid. A process
// that is restarting has no file for a moment.
func PIDs(dataDir string) map[string]int {
	out := map[string]int{}
	dir := filepath.Join(dataDir, "run")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			out[name] = pid
		}
	}
	return out
}

// RepoRoot walks up from the working directory to the folder holding go.work.
func RepoRoot() (string, error) {
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

// Tail returns the last n bytes of a file, for error messages.
func Tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
