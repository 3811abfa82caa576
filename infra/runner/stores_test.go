package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

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
	startInfra(t, sys, "nats-streaming", "redis")

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

// With FERRETDB_BACKEND=postgresql the runner makes a PostgreSQL cluster of
// its own once, runs FerretDB on it, and a second start finds the data the
// first wrote; a stopped run leaves no server behind.
func TestFerretDBOnTheRunnersPostgreSQL(t *testing.T) {
	sys := storeSystem(t)
	sys.cfg.FerretDBBackend = backendPostgreSQL
	letPostgresIn(t, sys.cfg.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgVersion := filepath.Join(sys.cfg.postgresDir(), "PG_VERSION")
	var made time.Time
	for start := range 2 {
		require.NoError(t, sys.preparePostgres(ctx))
		info, err := os.Stat(pgVersion)
		require.NoError(t, err, "the cluster is made")
		if start == 0 {
			made = info.ModTime()
		}
		assert.Equal(t, made, info.ModTime(), "a second start makes no new cluster")
		sup := startInfra(t, sys, "postgresql", "ferretdb")
		tickets := ferretClient(ctx, t, sys).Database("tickets").Collection("tickets")
		if start == 0 {
			_, err := tickets.InsertOne(ctx, bson.M{"_id": "t1", "title": "concert", "version": 0})
			require.NoError(t, err)
		}
		// The reservation's shape: a conditional update wins once.
		res := tickets.FindOneAndUpdate(ctx, bson.M{"_id": "t1", "version": start}, bson.M{"$inc": bson.M{"version": 1}})
		require.NoError(t, res.Err(), "start %d", start)
		assert.ErrorIs(t, tickets.FindOneAndUpdate(ctx, bson.M{"_id": "t1", "version": start}, bson.M{"$inc": bson.M{"version": 1}}).Err(), mongo.ErrNoDocuments)
		var got struct {
			Title   string `bson:"title"`
			Version int    `bson:"version"`
		}
		require.NoError(t, tickets.FindOne(ctx, bson.M{"_id": "t1"}).Decode(&got))
		assert.Equal(t, "concert", got.Title)
		assert.Equal(t, start+1, got.Version)
		sup.stopAll()
		_, err = net.DialTimeout("tcp", sys.local(offPostgres), time.Second)
		assert.Error(t, err, "PostgreSQL stops with the run")
	}
	hba, err := os.ReadFile(filepath.Join(sys.cfg.postgresDir(), "pg_hba.conf"))
	require.NoError(t, err)
	assert.NotRegexp(t, `(?m)^[^#].*\btrust\b`, string(hba), "no client gets in without the password")
	for _, sp := range sys.infra() {
		assert.NotContains(t, strings.Join(sp.Args, " "), sys.creds.PostgreSQL, "%s: passwords stay off command lines", sp.Name)
	}
}

// A runner run by root names the folder PostgreSQL's user cannot enter,
// before initdb fails on it with a message about something else.
func TestPostgresUserMustBeAbleToReachTheDataFolder(t *testing.T) {
	as := &syscall.Credential{Uid: 4242, Gid: 4242}
	closed := filepath.Join(t.TempDir(), "closed")
	inside := filepath.Join(closed, "data")
	require.NoError(t, os.MkdirAll(inside, 0o755))
	require.NoError(t, os.Chmod(closed, 0o700))
	// The test's own temporary folders are its user's alone, as closed is.
	for _, d := range []string{filepath.Dir(closed), filepath.Dir(filepath.Dir(closed))} {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	err := reachableBy(as, inside)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "may not enter "+closed+":")
	require.NoError(t, os.Chmod(closed, 0o711))
	assert.NoError(t, reachableBy(as, inside))
	assert.NoError(t, reachableBy(nil, inside), "the runner's own user reaches its own folders")
}

// letPostgresIn lets PostgreSQL's own user into a test's temporary folder
// (made for root alone) when the test runs as root, as the runner requires.
func letPostgresIn(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		require.NoError(t, os.Chmod(d, 0o755))
	}
}

// ferretClient is a MongoDB client of the system's FerretDB.
func ferretClient(ctx context.Context, t *testing.T, sys *system) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://"+sys.local(offFerretDB)+"/").
		SetServerSelectionTimeout(20*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

// startInfra starts the named servers of sys.infra(), each ready before the
// next; the test's end stops them.
func startInfra(t *testing.T, sys *system, names ...string) *supervisor {
	t.Helper()
	out := &lockedBuffer{}
	sup := newSupervisor(newLogMux(out), filepath.Join(sys.cfg.DataDir, "run"), 60*time.Second)
	t.Cleanup(func() {
		sup.stopAll()
		if t.Failed() {
			t.Log(out.String())
		}
	})
	for _, sp := range sys.infra() {
		if !slices.Contains(names, sp.Name) {
			continue
		}
		var err error
		sp.Path, err = lookBinary(sys.bin, cmp.Or(sp.Path, sp.Name))
		require.NoError(t, err)
		require.NoError(t, sup.start(context.Background(), sp), "starting %s", sp.Name)
	}
	return sup
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
	for _, sub := range []string{"ferretdb", "nats", "redis", "run"} {
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
