package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/app"
	"ticketing.dev/expiration/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// system is the expiration service running as main runs it, against a NATS
// Streaming server and a Redis of the test's own, which it may restart.
type system struct {
	t       testing.TB
	nats    *testenv.Broker
	redis   *testenv.Redis
	bus     *bus.Client
	rdb     *redis.Client
	holds   *store.Holds
	expired *testenv.Recorder
	port    int
}

func newSystem(t testing.TB, persistentRedis bool) *system {
	t.Helper()
	s := &system{t: t, nats: testenv.NewBroker(t), redis: testenv.NewRedis(t, persistentRedis)}
	s.bus = s.nats.NewBus(t)
	s.expired = testenv.Record(t, s.bus, events.SubjectExpirationComplete)
	opts, err := redis.ParseURL(s.redis.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	s.rdb = rdb
	s.holds = store.New(rdb)
	return s
}

// start runs the service until the returned function (or the test's end)
// stops it, and waits until it is ready.
func (s *system) start() (stop func()) {
	s.t.Helper()
	stop = s.launch(nil)
	require.Eventually(s.t, func() bool { return s.get("/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond)
	return stop
}

// launch runs the service, with override's settings over the usual ones,
// without waiting for it.
func (s *system) launch(override map[string]string) (stop func()) {
	s.t.Helper()
	port, err := testenv.FreePort()
	require.NoError(s.t, err)
	env := map[string]string{
		"PORT":                      strconv.Itoa(port),
		"NATS_URL":                  s.nats.URL,
		"EVENT_BUS":                 s.nats.Transport,
		"NATS_CLIENT_ID":            testenv.RandomName("expiration"),
		"REDIS_URL":                 s.redis.URL,
		"EXPIRATION_CHECK_INTERVAL": "1s",
		// How often expiration checks that Redis still holds its schedule.
		"EXPIRATION_MARKER_CHECK_INTERVAL": "1s",
	}
	for k, v := range override {
		env[k] = v
	}
	s.port = port
	return testenv.Background(s.t, func(ctx context.Context) error {
		assert.NoError(s.t, app.Service.Run(ctx, func(k string) string { return env[k] }), "expiration stops cleanly")
		return nil
	})
}

func (s *system) get(path string) int {
	status, _ := s.getBody(path)
	return status
}

func (s *system) getBody(path string) (int, string) {
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path))
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (s *system) publish(p events.Payload) events.Envelope {
	s.t.Helper()
	env, err := events.New(p)
	require.NoError(s.t, err)
	require.NoError(s.t, s.bus.Publish(testenv.Context(s.t), env))
	return env
}

func (s *system) orderCreated(id string, expiresAt time.Time) events.Envelope {
	s.t.Helper()
	return s.publish(events.OrderCreated{
		ID: id, Version: 0, Status: events.StatusCreated, UserID: "buyer", ExpiresAt: expiresAt,
		Ticket: events.OrderTicket{ID: "ticket-" + id, Price: 2000},
	})
}

// jobState is where an order's job is in Redis, "none" when there is none.
func (s *system) jobState(orderID string) string {
	state, found, err := s.holds.State(orderID)
	if err != nil {
		return "error: " + err.Error()
	}
	if !found {
		return "none"
	}
	return state.String()
}

func (s *system) waitJob(orderID, state string) {
	s.t.Helper()
	require.Eventually(s.t, func() bool { return s.jobState(orderID) == state }, 30*time.Second, 20*time.Millisecond,
		"job of %s never became %s (is %s)", orderID, state, s.jobState(orderID))
}

// waitExpired waits for the order's expiration:complete and returns how late
// after expiresAt it arrived.
func (s *system) waitExpired(orderID string, expiresAt time.Time) time.Duration {
	s.t.Helper()
	require.Eventually(s.t, func() bool { return len(s.lapses(orderID)) > 0 }, 60*time.Second, 10*time.Millisecond,
		"order %s never expired", orderID)
	arrived := s.lapses(orderID)[0]
	require.False(s.t, arrived.Before(expiresAt), "order %s expired %s before its window closed", orderID, expiresAt.Sub(arrived))
	return arrived.Sub(expiresAt)
}

// lapses returns when each expiration:complete of orderID arrived.
func (s *system) lapses(orderID string) []time.Time {
	var at []time.Time
	for _, a := range s.expired.Arrivals() {
		p, err := events.Decode[events.ExpirationComplete](a.Envelope)
		require.NoError(s.t, err)
		if p.OrderID == orderID {
			at = append(at, a.At)
		}
	}
	return at
}

// generousLateness bounds how late a hold may lapse with a 1 s check interval
// before a test calls it broken; the figures the tests log are what to watch.
const generousLateness = 5 * time.Second

func TestAnOrderLapsesWhenItsWindowPasses(t *testing.T) {
	s := newSystem(t, false)
	s.start()

	start := time.Now()
	deadlines := map[string]time.Time{}
	for i := range 6 {
		id := testenv.RandomName("order")
		deadlines[id] = start.Add(2*time.Second + time.Duration(i)*170*time.Millisecond)
		s.orderCreated(id, deadlines[id])
	}
	var late []time.Duration
	for id, at := range deadlines {
		lateness := s.waitExpired(id, at)
		assert.Less(t, lateness, generousLateness)
		late = append(late, lateness)
		s.waitJob(id, "completed")
	}
	slices.Sort(late)
	t.Logf("lateness of %d holds with a 1s check interval: min %s, median %s, max %s",
		len(late), late[0].Round(time.Millisecond), late[len(late)/2].Round(time.Millisecond), late[len(late)-1].Round(time.Millisecond))
}

func TestARedeliveredOrderCreatedSchedulesOneJob(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	id := testenv.RandomName("order")
	at := time.Now().Add(2 * time.Second)
	env := s.orderCreated(id, at)
	// The same envelope again (a redelivery), and, once the first is
	// scheduled, the same order in a new envelope (a publisher that published
	// twice). Handlers run side by side, so the later envelope is sent only
	// after the first is in Redis: sent at once, it may be handled first and
	// move the lapse a minute out.
	require.NoError(t, s.bus.Publish(testenv.Context(t), env))
	require.Eventually(t, func() bool { return s.jobState(id) != "none" }, 30*time.Second, 10*time.Millisecond,
		"order %s was never scheduled", id)
	s.orderCreated(id, at.Add(time.Minute))

	sentinel := testenv.RandomName("sentinel")
	s.orderCreated(sentinel, at.Add(1500*time.Millisecond))
	s.waitExpired(id, at)
	s.waitExpired(sentinel, at.Add(1500*time.Millisecond))
	assert.Equal(t, 1, len(s.lapses(id)), "one expiry for one order")

	s.orderCreated(id, time.Now())
	s.waitJob(id, "completed")
	sentinel2 := testenv.RandomName("sentinel")
	s.orderCreated(sentinel2, time.Now().Add(time.Second))
	s.waitExpired(sentinel2, time.Now())
	assert.Equal(t, 1, len(s.lapses(id)), "order:created redelivered after the hold lapsed schedules nothing")
}

func TestCancelledAndCompletedOrdersDoNotLapse(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	at := time.Now().Add(3 * time.Second)
	cancelled, completed, open := testenv.RandomName("cancelled"), testenv.RandomName("completed"), testenv.RandomName("open")
	for _, id := range []string{cancelled, completed} {
		s.orderCreated(id, at)
		s.waitJob(id, "scheduled")
	}
	s.orderCreated(open, at.Add(time.Second))

	s.publish(events.OrderCancelled{ID: cancelled, Version: 1, Ticket: events.TicketRef{ID: "t"}})
	s.publish(events.OrderCompleted{ID: completed, Version: 1, Ticket: events.TicketRef{ID: "t"}})
	s.waitJob(cancelled, "none")
	s.waitJob(completed, "none")

	// The open order's job is due a second after the others would have been:
	// once it has fired, theirs would have too.
	s.waitExpired(open, at.Add(time.Second))
	assert.Zero(t, len(s.lapses(cancelled)), "a cancelled order's hold is removed")
	assert.Zero(t, len(s.lapses(completed)), "a paid order's hold is removed")

	// A cancellation that arrives for an order expiration never saw is acked.
	s.publish(events.OrderCancelled{ID: testenv.RandomName("unknown"), Version: 1})
	late := testenv.RandomName("after-unknown")
	s.orderCreated(late, time.Now())
	s.waitExpired(late, time.Now().Add(-time.Minute))
}

func TestAHoldSurvivesRestartsOfTheServiceAndRedis(t *testing.T) {
	s := newSystem(t, true)
	stop := s.start()
	id := testenv.RandomName("order")
	at := time.Now().Add(8 * time.Second)
	s.orderCreated(id, at)
	s.waitJob(id, "scheduled")

	stop()
	// While expiration is down, another order is placed: its event waits in
	// the durable queue group.
	whileDown := testenv.RandomName("placed-while-down")
	s.orderCreated(whileDown, at)
	s.redis.Stop(t)
	s.redis.Start(t)
	s.start()

	lateness := s.waitExpired(id, at)
	assert.Less(t, lateness, generousLateness)
	t.Logf("a hold scheduled before restarting expiration and Redis lapsed %s after its deadline", lateness.Round(time.Millisecond))
	s.waitExpired(whileDown, at)
}

func TestAnExpiryIsPublishedOnceTheBrokerIsBack(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	id := testenv.RandomName("order")
	at := time.Now().Add(2 * time.Second)
	s.orderCreated(id, at)
	s.waitJob(id, "scheduled")

	s.nats.Stop(t)
	// The job comes due, cannot publish, and waits in Redis to be retried.
	s.waitJob(id, "retry")
	s.nats.Start(t)

	s.waitExpired(id, at)
	s.waitJob(id, "completed")
}

func TestReadinessChecksRedisAndTheBroker(t *testing.T) {
	s := newSystem(t, false)
	s.start()
	assert.Equal(t, http.StatusOK, s.get("/healthz"))

	s.redis.Stop(t)
	require.Eventually(t, func() bool { return s.get("/readyz") == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond)
	status, body := s.getBody("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status)
	var errBody struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &errBody))
	require.Len(t, errBody.Errors, 1)
	assert.Equal(t, "redis is not reachable", errBody.Errors[0].Message)
	assert.Equal(t, http.StatusOK, s.get("/healthz"), "alive all the same")

	s.redis.Start(t)
	require.Eventually(t, func() bool { return s.get("/readyz") == http.StatusOK }, 10*time.Second, 50*time.Millisecond)

	s.nats.Stop(t)
	require.Eventually(t, func() bool {
		status, body := s.getBody("/readyz")
		return status == http.StatusServiceUnavailable && strings.Contains(body, "nats is not reachable")
	}, 20*time.Second, 50*time.Millisecond)
	s.nats.Start(t)
	require.Eventually(t, func() bool { return s.get("/readyz") == http.StatusOK }, 30*time.Second, 50*time.Millisecond)
}

// Redis demands a password in every deployment: without it expiration is
// refused, says so on /readyz and gets no traffic; with it, it is ready.
func TestExpirationWithoutRedisPasswordIsRefusedAndNotReady(t *testing.T) {
	s := &system{t: t, nats: testenv.NewBroker(t), redis: testenv.NewSecuredRedis(t, false)}
	stop := s.launch(map[string]string{"REDIS_URL": "redis://" + s.redis.Addr + "/0"})
	var body string
	require.Eventually(t, func() bool {
		var status int
		status, body = s.getBody("/readyz")
		// Once the broker is connected, Redis alone refuses.
		return status == http.StatusServiceUnavailable && strings.Contains(body, "redis is not reachable") && !strings.Contains(body, "nats")
	}, testenv.Wait, testenv.Tick, "last /readyz: %s", body)
	stop()

	s.start()
	assert.Equal(t, http.StatusOK, s.get("/readyz"), "with the password from REDIS_URL")
}
