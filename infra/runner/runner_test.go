package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func backend(t *testing.T, name string) (*httptest.Server, int, *http.Header) {
	t.Helper()
	var seen http.Header
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		seen.Set("X-Seen-Host", r.Host)
		mu.Unlock()
		_, _ = io.WriteString(w, name+" "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	port, _ := strconv.Atoi(strings.TrimPrefix(srv.URL, "http://127.0.0.1:"))
	return srv, port, &seen
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// startGateway runs nginx, as the runner does, in front of routes, and
// returns its URL. nginx comes from `make deps`.
func startGateway(t *testing.T, routes ...route) string {
	t.Helper()
	return startGatewayWith(t, func(g gateway) gateway { return g }, routes...)
}

// startGatewayWith is startGateway with the configuration changed by adjust.
func startGatewayWith(t *testing.T, adjust func(gateway) gateway, routes ...route) string {
	t.Helper()
	nginx, err := lookBinary(t.TempDir(), "nginx")
	require.NoError(t, err, "the gateway is nginx: `make deps` installs it")
	port, err := freePort()
	require.NoError(t, err)
	gw := adjust(newGatewayConfig("127.0.0.1", port, t.TempDir(), routes))
	conf, err := gw.write()
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(gw.CacheDir()) })
	logs := &lockedBuffer{}
	sup := newSupervisor(newLogMux(logs), "", 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, sup.start(ctx, gw.spec(nginx, conf)), "nginx said: %s", logs)
	t.Cleanup(func() {
		cancel()
		sup.stopAll()
	})
	return "http://127.0.0.1:" + strconv.Itoa(port)
}

func TestGatewayRoutesLikeTheIngress(t *testing.T) {
	_, authPort, authSeen := backend(t, "auth")
	_, ticketsPort, _ := backend(t, "tickets")
	_, paymentsPort, _ := backend(t, "payments")
	_, clientPort, _ := backend(t, "client")
	gw := startGateway(t, route{"auth", "/api/users", authPort}, route{"tickets", "/api/tickets", ticketsPort},
		route{"payments", "/api/payments", paymentsPort}, route{"client", "/", clientPort})

	cases := map[string]string{
		"/api/users/signup":    "auth /api/users/signup",
		"/api/users":           "auth /api/users",
		"/api/tickets/abc":     "tickets /api/tickets/abc",
		"/":                    "client /",
		"/tickets/abc":         "client /tickets/abc",
		"/api/usersomething":   "client /api/usersomething",
		"/_next/static/x.js":   "client /_next/static/x.js",
		"/api/orders/anything": "client /api/orders/anything",
		// Stripe's webhook reaches payments, unchanged, as through the ingress.
		"/api/payments/webhook": "payments /api/payments/webhook",
	}
	for path, want := range cases {
		status, body := get(t, gw+path)
		assert.Equal(t, http.StatusOK, status, path)
		assert.Equal(t, want, body, path)
	}

	get(t, gw+"/api/users/currentuser", "Host", "ticketing.dev:8080")
	assert.Equal(t, "ticketing.dev:8080", authSeen.Get("X-Seen-Host"), "the browser's Host is kept, as ingress-nginx does")
	assert.Equal(t, "127.0.0.1", authSeen.Get("X-Forwarded-For"), "the client's address is given for auth's rate limits")
	assert.Equal(t, "ticketing.dev:8080", authSeen.Get("X-Forwarded-Host"))
	assert.Equal(t, "http", authSeen.Get("X-Forwarded-Proto"))

	get(t, gw+"/api/users/currentuser", "X-Forwarded-For", "203.0.113.7")
	assert.Equal(t, "203.0.113.7, 127.0.0.1", authSeen.Get("X-Forwarded-For"), "appended to, not replaced")
}

func TestGatewayRefusesBodiesOverItsLimitInTheCommonBody(t *testing.T) {
	_, port, _ := backend(t, "tickets")
	gw := startGateway(t, route{"tickets", "/api/tickets", port})

	res, err := http.Post(gw+"/api/tickets", "application/json", bytes.NewReader(bytes.Repeat([]byte("x"), 2<<20)))
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"errors":[{"message":"Request body too large"}]}`, string(body))

	res, err = http.Post(gw+"/api/tickets", "application/json", bytes.NewReader(bytes.Repeat([]byte("x"), 100<<10)))
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "under the gateway's limit the service decides (its own limit is 64 KiB)")
	assert.Equal(t, "tickets /api/tickets", string(body))
}

// A crowd of concurrent requests is carried over connections the gateway
// keeps, not over a new connection per request.
func TestGatewayKeepsConnectionsToABusyService(t *testing.T) {
	const crowd = 20
	var mu sync.Mutex
	opened, arrived := 0, 0
	all := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Every request of a round waits for the whole round, so they are
		// all in flight at once.
		mu.Lock()
		arrived++
		if arrived == crowd {
			close(all)
		}
		round := all
		mu.Unlock()
		<-round
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	gw := startGateway(t, route{"tickets", "/api/tickets", port})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: crowd}}

	for range 3 {
		mu.Lock()
		arrived, all = 0, make(chan struct{})
		mu.Unlock()
		var wg sync.WaitGroup
		for range crowd {
			wg.Go(func() {
				// Not a micro-cached read: those wait for one another.
				res, err := client.Get(gw + "/api/tickets/mine")
				if assert.NoError(t, err) {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					assert.Equal(t, http.StatusOK, res.StatusCode)
				}
			})
		}
		wg.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	assert.LessOrEqual(t, opened, crowd, "3 rounds of %d requests opened %d connections to the service", crowd, opened)
}

func TestGatewayAnswersInTheCommonBodyWhenABackendIsDown(t *testing.T) {
	free, err := freePort()
	require.NoError(t, err)
	gw := startGateway(t, route{"orders", "/api/orders", free})

	status, body := get(t, gw+"/api/orders/123")
	assert.Equal(t, http.StatusBadGateway, status)
	assert.JSONEq(t, `{"errors":[{"message":"The service behind /api/orders is not answering; it may be restarting"}]}`, body)

	status, body = get(t, gw+"/")
	assert.Equal(t, http.StatusNotFound, status, "no client route: the API's 404")
	assert.Contains(t, body, `"errors"`)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func TestBusyPortsAreNamedBeforeAnythingStarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	free, err := freePort()
	require.NoError(t, err)

	err = checkPorts("127.0.0.1", []portUse{{free, "auth", "BASE_PORT"}, {busy, "the gateway", "GATEWAY_PORT"}})
	require.Error(t, err)
	assert.Equal(t, "port "+strconv.Itoa(busy)+" (the gateway) is busy: stop what uses it, or choose another with GATEWAY_PORT", err.Error())
	assert.NoError(t, checkPorts("127.0.0.1", []portUse{{free, "auth", "BASE_PORT"}}))
}

func TestLogLinesArePrefixedAndNeverInterleaved(t *testing.T) {
	var buf bytes.Buffer
	mux := newLogMux(&buf, "tickets")
	a, b := mux.writer("auth"), mux.writer("tickets")
	_, _ = a.Write([]byte("hello "))
	_, _ = b.Write([]byte("one\ntwo\n"))
	_, _ = a.Write([]byte("world\npartial"))
	a.Flush()
	assert.Equal(t, "tickets | one\ntickets | two\nauth    | hello world\nauth    | partial\n", buf.String())
}

// lockedBuffer collects the supervisor's output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A tiny real server: python's http.server, which the runner treats like any
// other process (ready when its port accepts).
func serverSpec(t *testing.T, name string) spec {
	t.Helper()
	port, err := freePort()
	require.NoError(t, err)
	return spec{Name: name, Path: "python3", Args: []string{"-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(port)}, Port: port, Dir: t.TempDir()}
}

func pidOf(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return pid
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestADeadProcessIsReportedAndRestarted(t *testing.T) {
	out := &lockedBuffer{}
	pids := t.TempDir()
	sup := newSupervisor(newLogMux(out), pids, 20*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sp := serverSpec(t, "web")
	require.NoError(t, sup.start(ctx, sp))
	first := pidOf(t, pids, "web")

	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "web is back") }, 20*time.Second, 50*time.Millisecond)
	assert.Contains(t, out.String(), "web died (signal: killed); restarting in 500ms")
	second := pidOf(t, pids, "web")
	assert.NotEqual(t, first, second)
	status, _ := get(t, "http://127.0.0.1:"+strconv.Itoa(sp.Port)+"/")
	assert.Equal(t, http.StatusOK, status)

	sup.stopAll()
	assert.False(t, alive(second), "stopAll leaves no process behind")
	_, err := os.Stat(filepath.Join(pids, "web.pid"))
	assert.True(t, os.IsNotExist(err), "pid file removed")
}

func TestAProcessThatKeepsDyingStopsTheRun(t *testing.T) {
	out := &lockedBuffer{}
	sup := newSupervisor(newLogMux(out), "", 5*time.Second)
	sup.backoff = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port, err := freePort()
	require.NoError(t, err)
	// Ready at once (it listens), then dies a moment later, every time.
	sp := spec{Name: "flaky", Path: "python3", Args: []string{"-c",
		"import socket,time,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1'," + strconv.Itoa(port) + ")); s.listen(); time.sleep(0.2); sys.exit(3)"},
		Port: port}
	require.NoError(t, sup.start(ctx, sp))
	select {
	case err := <-sup.failed:
		assert.Contains(t, err.Error(), "flaky died 6 times within 1m0s (last: exit status 3); stopping")
	case <-time.After(60 * time.Second):
		t.Fatal("the run was not stopped")
	}
	sup.stopAll()
}

func TestADeadProcessTakesItsChildrenWithIt(t *testing.T) {
	out := &lockedBuffer{}
	pids := t.TempDir()
	sup := newSupervisor(newLogMux(out), pids, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer sup.stopAll()
	port, err := freePort()
	require.NoError(t, err)
	childPidFile := filepath.Join(t.TempDir(), "child")
	// As nginx's master and its worker: the child holds the port.
	sp := spec{Name: "parent", Path: "sh", Args: []string{"-c",
		"python3 -m http.server --bind 127.0.0.1 " + strconv.Itoa(port) + " & echo $! > " + childPidFile + "; wait"}, Port: port}
	require.NoError(t, sup.start(ctx, sp))
	b, err := os.ReadFile(childPidFile)
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)

	require.NoError(t, syscall.Kill(pidOf(t, pids, "parent"), syscall.SIGKILL))
	require.Eventually(t, func() bool { return !alive(child) || isZombie(child) }, 5*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "parent is back") }, 20*time.Second, 50*time.Millisecond,
		"the port is free again for its replacement: %s", out)
}

func TestStopAllStopsChildrenOfAProcessToo(t *testing.T) {
	sup := newSupervisor(newLogMux(io.Discard), "", 10*time.Second)
	port, err := freePort()
	require.NoError(t, err)
	childPidFile := filepath.Join(t.TempDir(), "child")
	// A shell that starts a server as its child, as npm starts node.
	sp := spec{Name: "parent", Path: "sh", Args: []string{"-c",
		"python3 -m http.server --bind 127.0.0.1 " + strconv.Itoa(port) + " & echo $! > " + childPidFile + "; wait"}, Port: port}
	require.NoError(t, sup.start(context.Background(), sp))
	b, err := os.ReadFile(childPidFile)
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.True(t, alive(child))

	sup.stopAll()
	require.Eventually(t, func() bool { return !alive(child) || isZombie(child) }, 5*time.Second, 20*time.Millisecond)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(b), ") Z ")
}

func TestConfigNamesBadValues(t *testing.T) {
	env := map[string]string{"GATEWAY_PORT": "eighty", "ORDER_EXPIRATION_WINDOW": "soon", "FERRETDB_BACKEND": "mysql", "TICKETING_ROOT": t.TempDir()}
	_, err := loadConfig(func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `GATEWAY_PORT="eighty" is not a port number`)
	assert.Contains(t, err.Error(), `ORDER_EXPIRATION_WINDOW="soon" is not a positive duration`)
	assert.Contains(t, err.Error(), `FERRETDB_BACKEND="mysql" is not one of sqlite, postgresql`)
}

// PostgreSQL's port is checked with the others, and only when it runs.
func TestPostgreSQLsPortIsCheckedOnlyOnItsBackend(t *testing.T) {
	cfg, err := loadConfig(func(k string) string { return map[string]string{"TICKETING_ROOT": t.TempDir()}[k] })
	require.NoError(t, err)
	assert.Equal(t, backendSQLite, cfg.FerretDBBackend, "the default")
	has := func(c config) bool {
		return slices.ContainsFunc(c.ports(false, false), func(u portUse) bool { return u.Port == c.BasePort+offPostgres })
	}
	assert.False(t, has(cfg))
	cfg.FerretDBBackend = backendPostgreSQL
	assert.True(t, has(cfg))
}

func TestServicesGetTheirDeploymentsCPUsUnlessTheRunnerIsToldOtherwise(t *testing.T) {
	root := t.TempDir()
	cfg, err := loadConfig(func(k string) string { return map[string]string{"TICKETING_ROOT": root}[k] })
	require.NoError(t, err)
	for _, name := range []string{"tickets", "orders", "expiration", "payments"} {
		assert.Equal(t, []string{"GOMAXPROCS=1"}, cfg.serviceEnv(name), "%s: as its Deployment's CPU limit gives it", name)
	}
	assert.Equal(t, []string{"GOMAXPROCS=2"}, cfg.serviceEnv("auth"), "auth hashes on two CPUs, as its Deployment's limit gives it")

	cfg, err = loadConfig(func(k string) string { return map[string]string{"TICKETING_ROOT": root, "GOMAXPROCS": "4"}[k] })
	require.NoError(t, err)
	assert.Empty(t, cfg.serviceEnv("auth"), "the runner's own GOMAXPROCS reaches the services unchanged")
	assert.Empty(t, cfg.serviceEnv("tickets"))
}

func TestServicesAllowUnsafeRequestsOnlyFromTheGatewaysOrigin(t *testing.T) {
	root := t.TempDir()
	load := func(env map[string]string) config {
		env["TICKETING_ROOT"] = root
		cfg, err := loadConfig(func(k string) string { return env[k] })
		require.NoError(t, err)
		return cfg
	}
	assert.Equal(t, "http://localhost:8080,http://127.0.0.1:8080", load(map[string]string{}).publicOrigins())
	assert.Equal(t, "http://localhost:9000,http://127.0.0.1:9000,http://192.0.2.4:9000",
		load(map[string]string{"GATEWAY_PORT": "9000", "GATEWAY_HOST": "192.0.2.4"}).publicOrigins())
	assert.Equal(t, "https://shop.example.test",
		load(map[string]string{"PUBLIC_ORIGINS": "https://shop.example.test"}).publicOrigins(), "the runner's own PUBLIC_ORIGINS wins")
}

func TestGeneratedJWTKeyIsKeptBetweenRuns(t *testing.T) {
	cfg := config{DataDir: t.TempDir()}
	first, err := cfg.jwtKey()
	require.NoError(t, err)
	second, err := cfg.jwtKey()
	require.NoError(t, err)
	assert.Len(t, first, 64)
	assert.Equal(t, first, second)
	cfg.JWTKey = "from-the-environment"
	third, err := cfg.jwtKey()
	require.NoError(t, err)
	assert.Equal(t, "from-the-environment", third)
}

func TestASecondRunnerOnOneDataFolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDataDir(dir)
	require.NoError(t, err)
	_, err = lockDataDir(dir)
	assert.EqualError(t, err, "another runner is using "+dir)
	release()
	release2, err := lockDataDir(dir)
	require.NoError(t, err)
	release2()
}

func TestTheGatewayIsSeenReadyWhereItListens(t *testing.T) {
	for host, dial := range map[string]string{"127.0.0.1": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "192.0.2.10": "192.0.2.10"} {
		gw := newGatewayConfig(host, 8080, t.TempDir(), nil)
		sp := gw.spec("nginx", "nginx.conf")
		assert.Equal(t, dial, sp.Host, host)
		assert.Equal(t, 8080, sp.Port)
		assert.Equal(t, net.JoinHostPort(host, "8080"), gw.Listen())
	}
}

func TestGatewayDoesNotServeMetrics(t *testing.T) {
	// Every backend here answers any path, /metrics too, as a service does.
	_, authPort, _ := backend(t, "auth")
	_, clientPort, _ := backend(t, "client")
	gw := startGateway(t, route{"auth", "/api/users", authPort}, route{"client", "/", clientPort})
	for _, path := range []string{"/metrics", "/metrics?x=1"} {
		status, body := get(t, gw+path)
		assert.Equal(t, http.StatusNotFound, status, path)
		assert.JSONEq(t, `{"errors":[{"message":"Route not found"}]}`, body, path)
	}
	status, body := get(t, gw+"/api/users/metrics")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "auth /api/users/metrics", body, "a service sees its own path, which is never its /metrics")

	gw = startGateway(t, route{"auth", "/api/users", authPort})
	status, _ = get(t, gw+"/metrics")
	assert.Equal(t, http.StatusNotFound, status, "nor without the client")
}

func TestBannerTellsWhereEachServiceServesMetrics(t *testing.T) {
	sys := &system{cfg: config{BasePort: 4000}}
	t.Setenv("METRICS", "")
	banner := metricsBanner(sys.services())
	for name, port := range map[string]int{"auth": 4010, "tickets": 4011, "orders": 4012, "expiration": 4013, "payments": 4014} {
		assert.Regexp(t, name+` +http://127\.0\.0\.1:`+strconv.Itoa(port)+`/metrics\n`, banner)
	}
	t.Setenv("METRICS", "off")
	assert.Equal(t, "  Metrics are off (METRICS=off)\n", metricsBanner(sys.services()))
}

func TestBannerTellsWhereTracesGo(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	assert.Contains(t, tracesBanner(), "Traces are off")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
	assert.Equal(t, "  Traces (OTLP/gRPC) go to http://127.0.0.1:4317\n", tracesBanner())
}

// Ctrl-C while the system is still starting is a clean stop (exit 0), not a
// failure to start; without it, a start-up error is the run's error.
func TestACtrlCDuringStartUpIsACleanStop(t *testing.T) {
	failed := errors.New("gateway did not become ready: context canceled")
	ctx, cancel := context.WithCancel(context.Background())
	assert.Equal(t, failed, unlessStopped(ctx, failed))
	cancel()
	assert.NoError(t, unlessStopped(ctx, failed))
}
