package service_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/config"
	"ticketing.dev/common/errs"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var uniqueA = mongo.IndexModel{Keys: bson.D{{Key: "a", Value: 1}}, Options: options.Index().SetUnique(true).SetName("a_unique")}

// running is a service serving over deps until the test ends.
type running struct {
	API     *apitest.Client
	done    chan error
	stop    func()
	stopped bool
}

// shutDown stops the service and waits for Serve to return, well within the
// shutdown timeout (20 s) that would cut short background work that ignores
// its context.
func (r *running) shutDown(t *testing.T) {
	t.Helper()
	r.stop()
	r.stopped = true
	select {
	case err := <-r.done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not stop")
	}
}

func serve(t *testing.T, deps *service.Deps) *running {
	t.Helper()
	port, err := testenv.FreePort()
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	r := &running{API: apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", port)), done: make(chan error, 1), stop: stop}
	handler := deps.Router()
	go func() { r.done <- deps.Serve(ctx, fmt.Sprintf("127.0.0.1:%d", port), handler) }()
	t.Cleanup(func() {
		stop()
		if !r.stopped {
			assert.NoError(t, <-r.done)
		}
	})
	require.Eventually(t, func() bool {
		_, err := r.API.Try("GET", "/healthz", nil)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return r
}

func (r *running) readiness(t *testing.T) (int, []errs.Item) {
	t.Helper()
	res := r.API.Do("GET", "/readyz", nil)
	if res.Status == http.StatusOK {
		return res.Status, nil
	}
	return res.Status, res.Errors(t)
}

func (r *running) stillRunning(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		t.Fatalf("the service exited: %v", err)
	default:
	}
}

// things is a service over uri whose one index is uniqueA on "things".
type things struct {
	deps     *service.Deps
	coll     *mongo.Collection
	attempts atomic.Int32 // at creating the index, so far
}

func newThings(t *testing.T, uri string) *things {
	t.Helper()
	deps, err := service.Open(testenv.Context(t), config.Service{Name: "things", Mongo: true},
		config.Common{MongoURI: uri}, testenv.Logger(t))
	require.NoError(t, err)
	th := &things{deps: deps, coll: deps.DB.Collection("things")}
	deps.EnsureIndexes(func(ctx context.Context) error {
		th.attempts.Add(1)
		return mongox.EnsureIndexes(ctx, th.coll, uniqueA)
	})
	return th
}

func indexNames(t *testing.T, coll *mongo.Collection) []string {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(testenv.Context(t))
	require.NoError(t, err)
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}

// A service whose database is down when it starts keeps running, says on
// /readyz that its indexes are not ready, and creates them once the database
// answers: it does not exit at boot as it did when index creation came first.
func TestIndexesAreCreatedOnceTheDatabaseAnswers(t *testing.T) {
	uri, proxy := testenv.ProxiedDatabaseURI(t)
	proxy.Cut()
	th := newThings(t, uri)
	svc := serve(t, th.deps)

	status, failed := svc.readiness(t)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, []errs.Item{{Message: service.NotReadyIndexes}, {Message: "mongo is not reachable"}}, failed)
	// The driver has tried the database again and again meanwhile.
	tried := proxy.Accepted()
	require.Eventually(t, func() bool { return proxy.Accepted() >= tried+3 }, 30*time.Second, 50*time.Millisecond)
	svc.stillRunning(t)
	status, failed = svc.readiness(t)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, failed, errs.Item{Message: service.NotReadyIndexes})

	proxy.Restore()
	require.Eventually(t, func() bool {
		status, _ := svc.readiness(t)
		return status == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	direct := testenv.NewDatabase(t).Client().Database(th.deps.DB.Name()).Collection("things")
	assert.Contains(t, indexNames(t, direct), "a_unique", "ready means the indexes exist")
}

// An index that cannot be created although the database answers (one of the
// same name with other keys is in the way) keeps the service unready and
// retrying, not dead; once the obstacle is gone it becomes ready.
func TestAnIndexInTheWayKeepsTheServiceUnreadyUntilItIsGone(t *testing.T) {
	th := newThings(t, testenv.DatabaseURI(t))
	ctx := testenv.Context(t)
	_, err := th.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "b", Value: 1}}, Options: options.Index().SetName("a_unique")})
	require.NoError(t, err)
	svc := serve(t, th.deps)

	require.Eventually(t, func() bool { return th.attempts.Load() >= 3 }, 30*time.Second, 20*time.Millisecond)
	svc.stillRunning(t)
	status, failed := svc.readiness(t)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, []errs.Item{{Message: service.NotReadyIndexes}}, failed, "the database itself answers")

	_, err = th.coll.Indexes().DropOne(ctx, "a_unique")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		status, _ := svc.readiness(t)
		return status == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	assert.Contains(t, indexNames(t, th.coll), "a_unique")
}

// Stopped while its database is still down, a service shuts down at once:
// the index creation waiting on the database ends with the service.
func TestAServiceWaitingForItsIndexesStopsCleanly(t *testing.T) {
	uri, proxy := testenv.ProxiedDatabaseURI(t)
	proxy.Cut()
	th := newThings(t, uri)
	svc := serve(t, th.deps)
	require.Eventually(t, func() bool { return th.attempts.Load() >= 1 }, 10*time.Second, 20*time.Millisecond)

	svc.shutDown(t)
}
