// Package e2e tests the running system from the outside: it starts the local
// runner (bin/runner, as `make run` does) on ports of its own, and talks to it
// only through the gateway, as a browser, Postman or curl would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ticketing.dev/common/testenv"
)

// system is the runner the package's tests share.
var system struct {
	baseURL string
	dataDir string
	root    string
	stripe  *stripeProxy
	log     *os.File
}

// expirationWindow is short so the expiry test is quick, and long enough for a
// purchase to finish inside it on a busy machine.
const expirationWindow = 20 * time.Second

func TestMain(m *testing.M) {
	code := func() int {
		stop, err := startSystem()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer stop()
		code := m.Run()
		if code != 0 {
			system.log.Sync()
			fmt.Fprintf(os.Stderr, "\n--- the runner's last output ---\n%s\n", tail(system.log.Name()))
		}
		return code
	}()
	testenv.StopAll()
	os.Exit(code)
}

func startSystem() (stop func(), err error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "e2e-data-")
	if err != nil {
		return nil, err
	}
	stripeMock, err := testenv.StartStripeMock()
	if err != nil {
		return nil, err
	}
	system.stripe = newStripeProxy(stripeMock)
	r, err := startRunner(root, dataDir,
		"ORDER_EXPIRATION_WINDOW="+expirationWindow.String(),
		"EXPIRATION_CHECK_INTERVAL=250ms",
		"STRIPE_API_BASE="+system.stripe.URL(),
		"PAYMENTS_RECONCILE_INTERVAL=1s",
	)
	if err != nil {
		system.stripe.Close()
		os.RemoveAll(dataDir)
		return nil, err
	}
	system.baseURL, system.dataDir, system.root, system.log = r.baseURL, dataDir, root, r.log
	return func() {
		_ = r.stop()
		system.stripe.Close()
		os.RemoveAll(dataDir)
	}, nil
}

// runnerProc is one bin/runner started by a test.
type runnerProc struct {
	cmd         *exec.Cmd
	exited      chan struct{}
	exitErr     error
	baseURL     string
	gatewayPort int
	basePort    int
	log         *os.File
}

// startRunner starts bin/runner on free ports over dataDir and waits until its
// gateway answers.
func startRunner(root, dataDir string, env ...string) (*runnerProc, error) {
	runner := filepath.Join(root, "bin", "runner")
	if _, err := os.Stat(runner); err != nil {
		return nil, fmt.Errorf("%s is missing: run `make build` first (make test-e2e does)", runner)
	}
	gatewayPort, basePort, err := freePorts()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp(dataDir, "runner-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(runner)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(),
		"DATA_DIR="+dataDir,
		"GATEWAY_PORT="+strconv.Itoa(gatewayPort),
		"BASE_PORT="+strconv.Itoa(basePort),
	), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &runnerProc{cmd: cmd, exited: make(chan struct{}), gatewayPort: gatewayPort, basePort: basePort, log: logFile,
		baseURL: fmt.Sprintf("http://127.0.0.1:%d", gatewayPort)}
	go func() { r.exitErr = cmd.Wait(); close(r.exited) }()

	deadline := time.Now().Add(3 * time.Minute)
	for {
		res, err := http.Get(r.baseURL + "/api/users/currentuser")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		select {
		case <-r.exited:
			return nil, fmt.Errorf("the runner exited (%v):\n%s", r.exitErr, tail(logFile.Name()))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = r.stop()
			return nil, fmt.Errorf("the system did not come up:\n%s", tail(logFile.Name()))
		}
	}
}

// stop sends Ctrl-C's signal and waits for the runner to finish; a runner
// that does not stop within a minute is killed and reported.
func (r *runnerProc) stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.exited:
		return r.exitErr
	case <-time.After(60 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return errors.New("the runner did not stop within a minute of SIGINT")
	}
}

func repoRoot() (string, error) {
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
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}

// freePorts finds a gateway port and a block of 21 free ports for the runner.
func freePorts() (gateway, base int, err error) {
	for attempt := 0; attempt < 50; attempt++ {
		// Below Linux's ephemeral range (32768 and up), where another
		// process's outgoing connection could take a port between this
		// check and the runner's listen.
		candidate := 20000 + (os.Getpid()*7+attempt*97)%12000
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
	return 0, 0, errors.New("no free block of ports")
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	return string(b)
}

// user is one person with a browser-like cookie jar.
type user struct {
	t      *testing.T
	client *http.Client
	email  string
	id     string
}

func newUser(t *testing.T, name string) *user {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, email: testenv.RandomName(name) + "@example.com"}
	var body map[string]any
	u.mustDo("POST", "/api/users/signup", map[string]string{"email": u.email, "password": "password123"}, http.StatusCreated, &body)
	u.id = body["id"].(string)
	return u
}

// do sends a JSON request and decodes the answer into out (if not nil).
func (u *user) do(method, path string, body any, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, system.baseURL+path, reader)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := u.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("decoding %s: %w", raw, err)
		}
	}
	return res.StatusCode, nil
}

func (u *user) mustDo(method, path string, body any, want int, out any) {
	u.t.Helper()
	status, err := u.do(method, path, body, out)
	if err != nil || status != want {
		u.t.Fatalf("%s %s: status %d (want %d), err %v", method, path, status, want, err)
	}
}

// eventually retries a request until it answers want: replicas learn of
// changes by events, and a restarted service takes a moment to come back.
func (u *user) eventually(method, path string, body any, want int, out any) {
	u.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var status int
	var err error
	for time.Now().Before(deadline) {
		status, err = u.do(method, path, body, out)
		if err == nil && status == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	u.t.Fatalf("%s %s: never answered %d (last: %d, %v)", method, path, want, status, err)
}

// waitFor polls cond until it holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

type ticket struct {
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Price    float64 `json:"price"`
	Version  int     `json:"version"`
	Reserved bool    `json:"reserved"`
	Sold     bool    `json:"sold"`
}

type order struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expiresAt"`
	Ticket    ticket    `json:"ticket"`
}

func (u *user) list(t *testing.T, ticketID string) ticket {
	t.Helper()
	var tk ticket
	u.mustDo("POST", "/api/tickets", map[string]any{"title": ticketID, "price": 42.5}, http.StatusCreated, &tk)
	return tk
}

func forSale(u *user, id string) bool {
	var page struct {
		Tickets []ticket `json:"tickets"`
	}
	if status, err := u.do("GET", "/api/tickets?limit=100", nil, &page); err != nil || status != http.StatusOK {
		return false
	}
	for _, tk := range page.Tickets {
		if tk.ID == id {
			return true
		}
	}
	return false
}

func orderStatus(u *user, id string) string {
	var o order
	if status, err := u.do("GET", "/api/orders/"+id, nil, &o); err != nil || status != http.StatusOK {
		return ""
	}
	return o.Status
}

// pid reads a running process's id from the runner's pid files.
func pid(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(system.dataDir, "run", name+".pid"))
	if err != nil {
		t.Fatalf("pid of %s: %v", name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// kill kills a service outright (no graceful shutdown) and waits until the
// runner has started it again.
func kill(t *testing.T, name string) {
	t.Helper()
	old := pid(t, name)
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", name, err)
	}
	waitFor(t, name+" to be restarted", func() bool {
		b, err := os.ReadFile(filepath.Join(system.dataDir, "run", name+".pid"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && n != old && n != 0
	})
}

// stripeProxy stands between payments and stripe-mock. stripe-mock is
// stateless and always answers at once; the proxy can hold charges (to make a
// payment late) and records what payments asked Stripe to do.
type stripeProxy struct {
	srv      *http.Server
	url      string
	upstream string

	mu       sync.Mutex
	hold     chan struct{}
	requests []string
}

func newStripeProxy(upstream string) *stripeProxy {
	p := &stripeProxy{upstream: upstream}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	p.url = "http://" + l.Addr().String()
	p.srv = &http.Server{Handler: p}
	go func() { _ = p.srv.Serve(l) }()
	return p
}

func (p *stripeProxy) URL() string { return p.url }

func (p *stripeProxy) Close() { _ = p.srv.Shutdown(context.Background()) }

func (p *stripeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.requests = append(p.requests, r.Method+" "+r.URL.Path+" "+string(body))
	hold := p.hold
	p.mu.Unlock()
	if hold != nil && r.Method == http.MethodPost && r.URL.Path == "/v1/charges" {
		<-hold
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// holdCharges makes charge requests wait until the returned release is called.
func (p *stripeProxy) holdCharges() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			close(ch)
		})
	}
}

// seen returns the requests whose line contains every part.
func (p *stripeProxy) seen(parts ...string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
next:
	for _, r := range p.requests {
		for _, part := range parts {
			if !strings.Contains(r, part) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}
