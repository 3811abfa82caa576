package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/expiry"
	"ticketing.dev/expiration/internal/store"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newHolds(t *testing.T) (*store.Holds, redis.UniversalClient) {
	t.Helper()
	rdb := client(t, testenv.NewRedis(t, false))
	return store.New(rdb), rdb
}

// client returns a client of r, closed when the test ends.
func client(t *testing.T, r *testenv.Redis) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(r.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func state(t *testing.T, holds *store.Holds, orderID string) string {
	t.Helper()
	s, found, err := holds.State(orderID)
	require.NoError(t, err)
	if !found {
		return "none"
	}
	return s.String()
}

func TestScheduleIsIdempotentPerOrder(t *testing.T) {
	ctx := testenv.Context(t)
	holds, rdb := newHolds(t)
	at := time.Now().Add(time.Hour).Truncate(time.Second).Add(300 * time.Millisecond)
	hold := expiry.Hold{OrderID: "order-1", ExpiresAt: at}

	require.NoError(t, holds.Schedule(ctx, hold))
	require.NoError(t, holds.Schedule(ctx, hold), "a redelivered order:created is acked")
	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: "order-1", ExpiresAt: at.Add(time.Hour)}),
		"even with another deadline, the first schedule stands")

	assert.Equal(t, "scheduled", state(t, holds, "order-1"))
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo(store.Queue, "order-1")
	require.NoError(t, err)
	assert.Equal(t, at.Truncate(time.Second), info.NextProcessAt, "due in the whole second of expiresAt")
	assert.Equal(t, expiry.TaskType, info.Type)

	queue, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(store.Queue)
	require.NoError(t, err)
	assert.Equal(t, 1, queue.Scheduled, "one job per order")
}

func TestAPastDeadlineIsDueAtOnce(t *testing.T) {
	ctx := testenv.Context(t)
	holds, _ := newHolds(t)
	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: "late", ExpiresAt: time.Now().Add(-time.Minute)}))
	assert.Equal(t, "pending", state(t, holds, "late"))
}

func TestCancelRemovesThePendingJob(t *testing.T) {
	ctx := testenv.Context(t)
	holds, _ := newHolds(t)

	require.NoError(t, holds.Cancel(ctx, "never-scheduled"), "nothing to cancel is not an error (queue does not exist yet)")

	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: "paid", ExpiresAt: time.Now().Add(time.Hour)}))
	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: "other", ExpiresAt: time.Now().Add(time.Hour)}))
	require.NoError(t, holds.Cancel(ctx, "paid"))
	assert.Equal(t, "none", state(t, holds, "paid"))
	assert.Equal(t, "scheduled", state(t, holds, "other"), "only the named order's job goes")

	require.NoError(t, holds.Cancel(ctx, "paid"), "a redelivered cancellation is acked")
	require.NoError(t, holds.Cancel(ctx, "still-unknown"), "an unknown order in an existing queue is not an error")
}

func TestAFiredJobKeepsItsIDSoItIsNotScheduledAgain(t *testing.T) {
	ctx := testenv.Context(t)
	holds, rdb := newHolds(t)
	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: "fired", ExpiresAt: time.Now()}))

	fired := make(chan string, 4)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Queues: map[string]int{store.Queue: 1}, DelayedTaskCheckInterval: 100 * time.Millisecond,
		TaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	require.NoError(t, srv.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		h, err := expiry.FromPayload(task.Payload())
		fired <- h.OrderID
		return err
	})))
	t.Cleanup(srv.Shutdown)

	require.Equal(t, "fired", <-fired)
	require.Eventually(t, func() bool { return state(t, holds, "fired") == "completed" }, 10*time.Second, 20*time.Millisecond)

	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: "fired", ExpiresAt: time.Now()}),
		"order:created redelivered after the hold lapsed")
	assert.Equal(t, "completed", state(t, holds, "fired"), "not scheduled a second time")
	require.NoError(t, holds.Cancel(ctx, "fired"), "cancelling a lapsed hold is a no-op")
	assert.Equal(t, "completed", state(t, holds, "fired"))
}

func TestARedisOutageIsAnError(t *testing.T) {
	ctx := testenv.Context(t)
	r := testenv.NewRedis(t, false)
	holds := store.New(client(t, r))
	r.Stop(t)

	assert.Error(t, holds.Schedule(ctx, expiry.Hold{OrderID: "o", ExpiresAt: time.Now().Add(time.Hour)}),
		"the listener must not ack an order:created it could not schedule")
	assert.Error(t, holds.Cancel(ctx, "o"))
}
