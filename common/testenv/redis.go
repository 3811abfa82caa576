package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

var sharedRedis shared[string]

// RedisURL returns a redis:// URL on the package's shared Redis. Tests that
// share it keep apart by key prefix or database number.
func RedisURL(t testing.TB) string {
	t.Helper()
	return sharedRedis.get(t, func() (string, func(), error) {
		if UseContainers() {
			return runContainer("redis:7", "6379/tcp", "redis")
		}
		r, err := startRedis(false, "")
		if err != nil {
			return "", nil, err
		}
		return r.URL, r.shutdown, nil
	})
}

// Redis is a Redis of one test's own that it may stop and start again.
type Redis struct {
	// URL reaches it, with the password when it demands one.
	URL string
	// Password is what a secured Redis (NewSecuredRedis) demands; "" if none.
	Password string
	// Addr is its host:port.
	Addr string
	proc *process
	dir  string
}

// NewRedis starts a dedicated Redis; with persistent, append-only persistence
// with fsync on every write, so a restart keeps everything acknowledged.
func NewRedis(t testing.TB, persistent bool) *Redis {
	t.Helper()
	return newRedis(t, persistent, "")
}

// NewSecuredRedis is NewRedis for a Redis that demands a password, as the
// runner's and Kubernetes' do; URL carries it.
func NewSecuredRedis(t testing.TB, persistent bool) *Redis {
	t.Helper()
	return newRedis(t, persistent, RandomName("redis-pw"))
}

func newRedis(t testing.TB, persistent bool, password string) *Redis {
	t.Helper()
	r, err := startRedis(persistent, password)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(r.shutdown)
	return r
}

func startRedis(persistent bool, password string, extra ...string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testenv-redis-")
	if err != nil {
		return nil, err
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""}
	if persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	args = append(args, extra...)
	p, err := startProcess("redis-server", port, args...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password, proc: p, dir: dir}
	r.URL = "redis://" + r.Addr + "/0"
	if password != "" {
		r.URL = "redis://:" + password + "@" + r.Addr + "/0"
	}
	return r, nil
}

// Stop stops Redis (SIGTERM: it flushes its append-only file first).
func (r *Redis) Stop(t testing.TB) { t.Helper(); r.proc.stop() }

// Start starts the stopped Redis again on the same address and data.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if err := r.proc.start(); err != nil {
		t.Fatalf("testenv: restarting redis: %v", err)
	}
}

func (r *Redis) shutdown() { r.proc.stop(); os.RemoveAll(r.dir) }
