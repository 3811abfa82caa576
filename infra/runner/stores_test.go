package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/infra/runner/launch"
)

func TestGeneratedCredentialsAreKeptBetweenRunsAndPrivate(t *testing.T) {
	cfg := config{DataDir: t.TempDir()}
	first, err := cfg.credentials()
	require.NoError(t, err)
	second, err := cfg.credentials()
	require.NoError(t, err)
	assert.Equal(t, first, second)
	seen := map[string]string{}
	for _, user := range bus.Users() {
		pw := first.NATS[user]
		assert.Len(t, pw, 64, "%s has a password of its own", user)
		assert.NotContains(t, seen, pw, "%s shares %s's password", user, seen[pw])
		seen[pw] = user
	}
	assert.Len(t, first.Redis, 64)
	info, err := os.Stat(filepath.Join(cfg.DataDir, launch.CredentialsFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A data folder from before a user existed gains it, keeping the rest.
	delete(first.NATS, "observer")
	first.Redis = ""
	b, _ := os.ReadFile(filepath.Join(cfg.DataDir, launch.CredentialsFile))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.DataDir, launch.CredentialsFile), []byte(strings.Replace(string(b), `"observer"`, `"gone"`, 1)), 0o600))
	third, err := cfg.credentials()
	require.NoError(t, err)
	assert.Equal(t, second.NATS["tickets"], third.NATS["tickets"])
	assert.Len(t, third.NATS["observer"], 64)
	assert.NotEqual(t, second.NATS["observer"], third.NATS["observer"])
}

func TestEachServiceGetsItsOwnBrokerUserAndRedisItsPassword(t *testing.T) {
	sys := storeSystem(t)
	users := map[string]string{}
	for _, sp := range sys.services() {
		env := envMap(sp.Env)
		require.Equal(t, sp.Name, env["NATS_USER"])
		require.Equal(t, sys.creds.NATS[sp.Name], env["NATS_PASSWORD"])
		require.NotEmpty(t, env["NATS_PASSWORD"])
		assert.NotContains(t, users, env["NATS_PASSWORD"], "%s and %s share broker credentials", sp.Name, users[env["NATS_PASSWORD"]])
		users[env["NATS_PASSWORD"]] = sp.Name
		if sp.Name == "expiration" {
			assert.Equal(t, fmt.Sprintf("redis://:%s@%s/0", sys.creds.Redis, sys.local(offRedis)), env["REDIS_URL"])
		}
	}
	assert.Len(t, users, 5)
	for _, sp := range sys.infra() {
		assert.NotContains(t, strings.Join(sp.Args, " "), sys.creds.Redis, "%s: passwords stay off command lines", sp.Name)
		assert.NotContains(t, strings.Join(sp.Args, " "), sys.creds.NATS["stan"], "%s: passwords stay off command lines", sp.Name)
	}
}

// The broker and Redis the runner starts refuse what they must.
func TestTheRunnersBrokerAndRedisAuthenticate(t *testing.T) {
	sys := storeSystem(t)
	sup := newSupervisor(newLogMux(&lockedBuffer{}), filepath.Join(sys.cfg.DataDir, "run"), 30*time.Second)
	t.Cleanup(sup.stopAll)
	for _, sp := range sys.infra() {
		if sp.Name != "nats-streaming" && sp.Name != "redis" {
			continue
		}
		var err error
		sp.Path, err = lookBinary(sys.bin, sp.Path)
		require.NoError(t, err)
		require.NoError(t, sup.start(context.Background(), sp))
	}

	t.Run("redis refuses a client without the password", func(t *testing.T) {
		conn, err := net.Dial("tcp", sys.local(offRedis))
		require.NoError(t, err)
		defer conn.Close()
		r := bufio.NewReader(conn)
		say := func(cmd string) string {
			_, err := fmt.Fprintf(conn, "%s\r\n", cmd)
			require.NoError(t, err)
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			return strings.TrimSpace(line)
		}
		assert.True(t, strings.HasPrefix(say("SET k v"), "-NOAUTH"), "a write without AUTH")
		assert.True(t, strings.HasPrefix(say("AUTH wrong"), "-WRONGPASS"))
		assert.Equal(t, "+OK", say("AUTH "+sys.creds.Redis))
		assert.Equal(t, "+PONG", say("PING"))
	})

	natsURL := "nats://" + sys.local(offNATS)
	t.Run("the broker refuses a client without credentials", func(t *testing.T) {
		_, err := stan.Connect("ticketing", "intruder", stan.NatsURL(natsURL), stan.NatsOptions(nats.MaxReconnects(0)), stan.ConnectWait(2*time.Second))
		assert.ErrorIs(t, err, nats.ErrAuthorization)
	})

	t.Run("tickets may publish its own events and not payments'", func(t *testing.T) {
		c := bus.New(bus.Config{URL: natsURL, ClusterID: "ticketing", ClientID: "tickets-runner-test",
			User: "tickets", Password: sys.creds.NATS["tickets"], PubAckWait: time.Second})
		defer c.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, c.WaitConnected(ctx))
		event := func(s events.Subject) events.Envelope {
			return events.Envelope{ID: string(s) + "-1", Subject: s, OccurredAt: time.Now(), Data: []byte(`{}`)}
		}
		assert.NoError(t, c.Publish(ctx, event(events.SubjectTicketCreated)))
		assert.ErrorIs(t, c.Publish(ctx, event(events.SubjectPaymentCreated)), stan.ErrTimeout)
	})
}

// storeSystem is a system on free ports with a data folder of its own, its
// store configurations written.
func storeSystem(t *testing.T) *system {
	t.Helper()
	root, err := launch.RepoRoot()
	require.NoError(t, err)
	_, base, err := launch.FreePorts(0)
	require.NoError(t, err)
	dir := t.TempDir()
	for _, sub := range []string{"nats", "redis", "run"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	sys := &system{cfg: config{Root: root, DataDir: dir, BasePort: base}, bin: filepath.Join(root, "bin")}
	require.NoError(t, sys.writeStoreConfigs())
	return sys
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
