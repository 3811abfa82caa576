package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv("BUSMOVE_RUN_MAIN") == "1" {
		os.Args = append([]string{"busmove"}, strings.Fields(os.Getenv("BUSMOVE_ARGS"))...)
		main()
		os.Exit(0)
	}
	testenv.Main(m)
}

// group records what a queue group handled; fail says which event ids it
// fails (and so never acks).
type group struct {
	mu   sync.Mutex
	got  map[string]int
	fail map[string]bool
}

func consume(t *testing.T, c *bus.Client, queue string, fail ...string) *group {
	t.Helper()
	g := &group{got: map[string]int{}, fail: map[string]bool{}}
	for _, id := range fail {
		g.fail[id] = true
	}
	require.NoError(t, c.Subscribe(bus.Subscription{Subject: events.SubjectOrderCreated, Queue: queue, AckWait: time.Second,
		Handler: func(_ context.Context, m bus.Message) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.got[m.ID]++
			if g.fail[m.ID] {
				return errors.New("not handled")
			}
			return nil
		}}))
	return g
}

func (g *group) handled() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for id, n := range g.got {
		if !g.fail[id] {
			out[id] = n
		}
	}
	return out
}

func (g *group) count(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got[id]
}

func publish(t *testing.T, c *bus.Client, subject events.Subject) events.Envelope {
	t.Helper()
	e, err := events.New(events.TicketCreated{ID: testenv.RandomName("t"), Title: "Front row", Price: 2050, UserID: "u1"})
	require.NoError(t, err)
	e.Subject = subject
	require.NoError(t, c.Publish(testenv.Context(t), e))
	return e
}

func busmove(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run(testenv.Context(t), args, func(k string) string { return env[k] }, &out, &errs)
	t.Log(errs.String())
	return out.String(), err
}

func stanClient(t *testing.T, url string) *bus.Client {
	t.Helper()
	return testenv.ConnectBus(t, testenv.BusConfig(url))
}

// On NATS Streaming: e1 handled by both groups, e2 handled by tickets and
// failed (unacked) by payments, e3 and e4 handled by neither; e4 was also
// published on JetStream already, by a relay that crashed before removing it
// and came back on JetStream. After the move each group on JetStream handles
// exactly what it had not handled, once; an event that one group handled and
// another did not is in the stream once, so the group that had handled it
// sees it again (its handler is idempotent: docs/events.md says why that is
// safe). Nothing a group handled on NATS Streaming that no group lacks is
// copied.
func TestMoveCopiesWhatEachGroupHasNotAcked(t *testing.T) {
	stanURL, js := testenv.NewNATS(t).URL, testenv.NewJetStream(t)
	env := map[string]string{"STAN_URL": stanURL, "NATS_URL": js.URL, "NATS_CLUSTER_ID": testenv.ClusterID}
	pub := stanClient(t, stanURL)

	ticketsBus, paymentsBus := stanClient(t, stanURL), stanClient(t, stanURL)
	e1 := publish(t, pub, events.SubjectOrderCreated)
	e2 := publish(t, pub, events.SubjectOrderCreated)
	tickets := consume(t, ticketsBus, "tickets-service")
	payments := consume(t, paymentsBus, "payments-service", e2.ID)
	require.Eventually(t, func() bool {
		return tickets.count(e1.ID) == 1 && tickets.count(e2.ID) == 1 && payments.count(e1.ID) == 1 && payments.count(e2.ID) >= 1
	}, testenv.Wait, testenv.Tick)
	require.NoError(t, ticketsBus.Close(context.Background()))
	require.NoError(t, paymentsBus.Close(context.Background()))
	e3 := publish(t, pub, events.SubjectOrderCreated)
	e4 := publish(t, pub, events.SubjectOrderCreated)
	require.NoError(t, testenv.ConnectBus(t, testenv.JetStreamBusConfig(js.URL)).Publish(testenv.Context(t), e4))

	// The default -idle, 3 s: NATS Streaming hands back payments' unacked e2
	// after busmove's AckWait, 1 s.
	move := []string{"-queue", "tickets-service", "-queue", "payments-service"}
	out, err := busmove(t, env, move...)
	require.NoError(t, err)
	assert.Contains(t, out, "tickets-service order:created: copied 1, already on JetStream 1\n", "e3 copied, e4 there already")
	assert.Contains(t, out, "payments-service order:created: copied 1, already on JetStream 2\n", "e2 copied; e3 and e4 there already")
	assert.Contains(t, out, "tickets-service order:cancelled: copied 0, already on JetStream 0\n")

	out, err = busmove(t, env, move...)
	require.NoError(t, err)
	assert.NotContains(t, out, "copied 1", "a second run copies nothing: %s", out)
	assert.Equal(t, 6, strings.Count(out, "copied 0, already on JetStream 0\n"), out)

	jsTickets := consume(t, testenv.ConnectBus(t, testenv.JetStreamBusConfig(js.URL)), "tickets-service")
	jsPayments := consume(t, testenv.ConnectBus(t, testenv.JetStreamBusConfig(js.URL)), "payments-service")
	want := map[string]int{e2.ID: 1, e3.ID: 1, e4.ID: 1}
	require.Eventually(t, func() bool { return len(jsPayments.handled()) == 3 && len(jsTickets.handled()) == 3 }, testenv.Wait, testenv.Tick)
	time.Sleep(2 * time.Second) // anything delivered twice would have come by now (AckWait 1 s)
	assert.Equal(t, want, jsPayments.handled(), "payments gets exactly what it had not handled, once")
	assert.Equal(t, want, jsTickets.handled(), "tickets gets e3 and e4 once, and e2 (payments') once again")
	assert.Zero(t, jsTickets.count(e1.ID)+jsPayments.count(e1.ID), "what every group handled is not copied")
}

// -since copies a channel's history, for the services that replay it, and
// moves no group's position; a second run is dropped by the broker.
func TestMoveCopiesHistorySince(t *testing.T) {
	stanURL, js := testenv.NewNATS(t).URL, testenv.NewJetStream(t)
	env := map[string]string{"STAN_URL": stanURL, "NATS_URL": js.URL}
	pub := stanClient(t, stanURL)
	r1, r2 := publish(t, pub, events.SubjectSessionRevoked), publish(t, pub, events.SubjectSessionRevoked)

	args := []string{"-since", "1h", "-subject", "session:revoked", "-idle", "2s"}
	out, err := busmove(t, env, args...)
	require.NoError(t, err)
	assert.Contains(t, out, "session:revoked since ")
	assert.Contains(t, out, ": copied 2, already on JetStream 0\n")
	out, err = busmove(t, env, args...)
	require.NoError(t, err)
	assert.Contains(t, out, ": copied 0, already on JetStream 2\n", "a second run's copies are dropped by the broker")

	var got []string
	jsBus := testenv.ConnectBus(t, testenv.JetStreamBusConfig(js.URL))
	require.NoError(t, jsBus.Replay(testenv.Context(t), time.Now().Add(-time.Hour), func(_ context.Context, m bus.Message) error {
		got = append(got, m.ID)
		return nil
	}, events.SubjectSessionRevoked))
	assert.Equal(t, []string{r1.ID, r2.ID}, got, "the history is on JetStream once, in order")
}

func TestMoveRefusesBadFlags(t *testing.T) {
	both := map[string]string{"STAN_URL": "nats://127.0.0.1:1", "NATS_URL": "nats://127.0.0.1:2"}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"NATS_URL": "nats://127.0.0.1:2"}, nil, "STAN_URL"},
		{map[string]string{"STAN_URL": "nats://127.0.0.1:1"}, nil, "NATS_URL"},
		{map[string]string{"STAN_URL": "nats://127.0.0.1:1", "NATS_URL": "nats://127.0.0.1:1"}, nil, "same broker"},
		{both, []string{"-queue", "nobody"}, `no service consumes with queue group "nobody"`},
		{both, []string{"-since", "1h"}, "-since needs at least one -subject"},
		{both, []string{"-since", "1h", "-subject", "session:revoked", "-queue", "orders-service"}, "not -queue"},
		{both, []string{"-subject", "session:revoked"}, "-subject goes with -since"},
		{both, []string{"-idle", "0s"}, "must be positive"},
		{both, []string{"extra"}, "unexpected arguments"},
	} {
		_, err := busmove(t, c.env, c.args...)
		assert.ErrorContains(t, err, c.want, "%v %v", c.env, c.args)
	}
}

func TestMoveSaysWhichBrokerIsUnreachable(t *testing.T) {
	_, err := busmove(t, map[string]string{"STAN_URL": testenv.NATSURL(t), "NATS_URL": "nats://127.0.0.1:1"})
	assert.ErrorContains(t, err, "connecting to JetStream at nats://127.0.0.1:1")
	_, err = busmove(t, map[string]string{"STAN_URL": "nats://127.0.0.1:1", "NATS_URL": testenv.JetStreamURL(t)})
	assert.ErrorContains(t, err, "connecting to NATS Streaming at nats://127.0.0.1:1")
}

// The command exits 1 and says why, on its standard error.
func TestMoveExitsNonZeroOnError(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BUSMOVE_RUN_MAIN=1", "BUSMOVE_ARGS=-queue nobody", "STAN_URL=nats://127.0.0.1:1", "NATS_URL=nats://127.0.0.1:2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stderr.String(), "busmove: ")
	assert.Contains(t, stderr.String(), "nobody")
}

// On secured brokers busmove connects as redrive, on each broker with its
// password; without credentials neither lets it in.
func TestMoveAsTheRedriveUser(t *testing.T) {
	stan, js := testenv.NewSecuredNATS(t), testenv.NewSecuredJetStream(t)
	e := publish(t, testenv.ConnectBus(t, stan.BusConfigAs(t, "orders")), events.SubjectOrderCreated)
	onStan, onJS := stan.Credential(t, "redrive"), js.Credential(t, "redrive")
	env := map[string]string{"STAN_URL": stan.URL, "NATS_URL": js.URL, "NATS_CLUSTER_ID": testenv.ClusterID,
		"STAN_USER": onStan.User, "STAN_PASSWORD": onStan.Password, "NATS_USER": onJS.User, "NATS_PASSWORD": onJS.Password}
	out, err := busmove(t, env, "-queue", "expiration-service", "-idle", "2s")
	require.NoError(t, err)
	assert.Contains(t, out, "expiration-service order:created: copied 1, already on JetStream 0\n")
	expiration := consume(t, testenv.ConnectBus(t, js.BusConfigAs(t, "expiration")), "expiration-service")
	require.Eventually(t, func() bool { return expiration.count(e.ID) == 1 }, testenv.Wait, testenv.Tick)

	delete(env, "NATS_PASSWORD")
	_, err = busmove(t, env, "-queue", "expiration-service", "-timeout", "5s")
	assert.ErrorContains(t, err, "connecting to JetStream", "JetStream refuses a wrong password")
	env["NATS_PASSWORD"], env["STAN_PASSWORD"] = onJS.Password, "wrong"
	_, err = busmove(t, env, "-queue", "expiration-service", "-timeout", "5s")
	assert.ErrorContains(t, err, "connecting to NATS Streaming", "NATS Streaming refuses a wrong password")
}

// A stream the services made is left as it is: busmove with the default
// -replicas does not change it.
func TestMoveLeavesAnExistingStreamAlone(t *testing.T) {
	js := testenv.NewJetStream(t)
	cfg := testenv.JetStreamBusConfig(js.URL)
	testenv.ConnectBus(t, cfg) // creates the stream
	nc, err := nats.Connect(js.URL)
	require.NoError(t, err)
	defer nc.Close()
	jsAPI, err := jetstream.New(nc)
	require.NoError(t, err)
	stream, err := jsAPI.Stream(testenv.Context(t), bus.StreamName)
	require.NoError(t, err)
	want := stream.CachedInfo().Config
	want.Description = "changed by an operator"
	_, err = jsAPI.UpdateStream(testenv.Context(t), want)
	require.NoError(t, err)

	_, err = busmove(t, map[string]string{"STAN_URL": testenv.NATSURL(t), "NATS_URL": js.URL}, "-queue", "orders-service", "-idle", "1s", "-replicas", "1")
	require.NoError(t, err)
	stream, err = jsAPI.Stream(testenv.Context(t), bus.StreamName)
	require.NoError(t, err)
	assert.Equal(t, "changed by an operator", stream.CachedInfo().Config.Description)
}
