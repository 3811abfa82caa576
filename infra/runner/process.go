package main

import (
	"bytes"
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
	"sync"
	"syscall"
	"time"
)

// spec says how to run one process and how to tell it is ready.
type spec struct {
	Name string
	Path string
	Args []string
	Dir  string
	Env  []string
	// Port is where it listens; it is ready once the port accepts connections,
	// or, with ReadyPath, once GET ReadyPath on it answers below 500 (200 for
	// /readyz).
	Port      int
	ReadyPath string
	// Host is where the runner reaches Port to see it ready; 127.0.0.1 if empty.
	Host string
	// Credential, when set, is the user it runs as (PostgreSQL refuses root).
	Credential *syscall.Credential
}

// restartPolicy: a process that dies is started again after a growing pause;
// one that dies maxRestarts times within window stops the whole run, because
// something is wrong that restarting will not fix.
const (
	maxRestarts   = 5
	restartWindow = time.Minute
	stopTimeout   = 25 * time.Second
)

// supervisor starts processes, restarts them when they die, and stops them all
// in reverse order.
type supervisor struct {
	out     *logMux
	pidDir  string
	timeout time.Duration

	// backoff is the first restart's pause; each further one doubles it.
	backoff time.Duration

	mu     sync.Mutex
	procs  []*proc
	failed chan error
}

func newSupervisor(out *logMux, pidDir string, readyTimeout time.Duration) *supervisor {
	return &supervisor{out: out, pidDir: pidDir, timeout: readyTimeout, backoff: 500 * time.Millisecond, failed: make(chan error, 1)}
}

type proc struct {
	spec     spec
	sup      *supervisor
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopping bool
	restarts []time.Time
}

// start runs s and waits until it is ready.
func (s *supervisor) start(ctx context.Context, sp spec) error {
	p := &proc{spec: sp, sup: s}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p.launch(ctx)
}

func (p *proc) launch(ctx context.Context) error {
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = append(os.Environ(), p.spec.Env...)
	w := p.sup.out.writer(p.spec.Name)
	// The output goes through a pipe of our own, not exec's copying: exec's
	// Wait would also wait for every child holding the pipe to exit, and an
	// orphaned child (nginx's worker, npm's node) holds it as long as it lives.
	r, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	// Its own process group, so stopping it stops its children (npm -> node),
	// and death with the runner if the runner is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM, Credential: p.spec.Credential}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("starting %s: %w", p.spec.Name, err)
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(w, r)
		r.Close()
		close(copied)
	}()
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	p.writePID(cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		// What it started dies with it: an orphan would keep the port, and
		// its replacement could not start.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-copied:
		case <-time.After(time.Second): // a child that left the group keeps the pipe
		}
		w.Flush()
		close(exited)
		p.onExit(ctx, err)
	}()
	if err := p.waitReady(ctx, exited); err != nil {
		return fmt.Errorf("%s did not become ready: %w", p.spec.Name, err)
	}
	return nil
}

func (p *proc) writePID(pid int) {
	if p.sup.pidDir == "" {
		return
	}
	_ = os.WriteFile(filepath.Join(p.sup.pidDir, p.spec.Name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

func (p *proc) waitReady(ctx context.Context, exited <-chan struct{}) error {
	deadline := time.Now().Add(p.sup.timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	host := p.spec.Host
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(p.spec.Port))
	for {
		if p.ready(client, addr) {
			return nil
		}
		select {
		case <-exited:
			return errors.New("it exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", p.sup.timeout)
		}
	}
}

func (p *proc) ready(client *http.Client, addr string) bool {
	if p.spec.ReadyPath == "" {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	res, err := client.Get("http://" + addr + p.spec.ReadyPath)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if p.spec.ReadyPath == "/readyz" {
		return res.StatusCode == http.StatusOK
	}
	return res.StatusCode < http.StatusInternalServerError
}

// onExit restarts a process that died on its own.
func (p *proc) onExit(ctx context.Context, err error) {
	p.mu.Lock()
	if p.stopping || ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	recent := p.restarts[:0]
	for _, t := range p.restarts {
		if now.Sub(t) < restartWindow {
			recent = append(recent, t)
		}
	}
	p.restarts = append(recent, now)
	attempt := len(p.restarts)
	p.mu.Unlock()

	reason := "exited"
	if err != nil {
		reason = err.Error()
	}
	if attempt > maxRestarts {
		p.sup.fail(fmt.Errorf("%s died %d times within %s (last: %s); stopping", p.spec.Name, attempt, restartWindow, reason))
		return
	}
	pause := time.Duration(1<<(attempt-1)) * p.sup.backoff
	p.sup.out.say("%s died (%s); restarting in %s (restart %d of %d allowed per %s)", p.spec.Name, reason, pause, attempt, maxRestarts, restartWindow)
	select {
	case <-ctx.Done():
		return
	case <-time.After(pause):
	}
	if p.isStopping() {
		return
	}
	if err := p.launch(ctx); err != nil && ctx.Err() == nil && !p.isStopping() {
		p.sup.out.say("restarting %s: %v", p.spec.Name, err)
	} else if err == nil {
		p.sup.out.say("%s is back", p.spec.Name)
	}
}

func (p *proc) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

func (s *supervisor) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// stopAll stops every process, the last started first: services drain before
// the infrastructure they write to goes away.
func (s *supervisor) stopAll() {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
}

func (p *proc) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		p.sup.out.say("%s did not stop within %s; killing it", p.spec.Name, stopTimeout)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	// Children that outlived their parent in the group (npm's node) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if p.sup.pidDir != "" {
		_ = os.Remove(filepath.Join(p.sup.pidDir, p.spec.Name+".pid"))
	}
}

// logMux writes every process's output line by line, each line prefixed with
// the process's name, without interleaving lines.
type logMux struct {
	mu    sync.Mutex
	dst   io.Writer
	width int
}

func newLogMux(dst io.Writer, names ...string) *logMux {
	m := &logMux{dst: dst, width: len("runner")}
	for _, n := range names {
		m.width = max(m.width, len(n))
	}
	return m
}

func (m *logMux) writeLine(name string, line []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.dst, "%-*s | %s\n", m.width, name, bytes.TrimRight(line, "\r"))
}

// say writes one line of the runner's own.
func (m *logMux) say(format string, args ...any) {
	m.writeLine("runner", fmt.Appendf(nil, format, args...))
}

func (m *logMux) writer(name string) *lineWriter { return &lineWriter{mux: m, name: name} }

// lineWriter buffers a partial line until its newline arrives.
type lineWriter struct {
	mux  *logMux
	name string
	mu   sync.Mutex
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.mux.writeLine(w.name, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	// A runaway line without newlines is written in pieces, not hoarded.
	if len(w.buf) > 64<<10 {
		w.mux.writeLine(w.name, w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// Flush writes a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.mux.writeLine(w.name, w.buf)
		w.buf = nil
	}
}

var execLookPath = exec.LookPath
