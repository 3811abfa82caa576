package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/health"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func serve(t *testing.T, checks map[string]health.Check) *httptest.Server {
	t.Helper()
	return serveDegrading(t, checks, nil)
}

func serveDegrading(t *testing.T, checks, degrading map[string]health.Check) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	r.Get("/healthz", health.Liveness)
	r.Get("/readyz", health.Readiness(testenv.Logger(t), checks, degrading))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	body   string
}

func get(t *testing.T, srv *httptest.Server, path string) answer {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{res.StatusCode, string(body)}
}

func ready(t *testing.T, srv *httptest.Server) func() bool {
	return func() bool { return get(t, srv, "/readyz").status == http.StatusOK }
}

// failed returns the checks a 503 names, in the common error body.
func failed(t *testing.T, a answer) []errs.Item {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	var body errs.Body
	require.NoError(t, json.Unmarshal([]byte(a.body), &body))
	return body.Errors
}

func connectMongo(t *testing.T, uri string) health.Check {
	t.Helper()
	client, db, err := mongox.Connect(context.Background(), uri, testenv.RandomName("health"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return mongox.Ping(db)
}

func TestLiveness(t *testing.T) {
	srv := serve(t, nil)
	a := get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, a.status)
	assert.JSONEq(t, `{"status":"ok"}`, a.body)
}

func TestReadinessFollowsTheBroker(t *testing.T) {
	t.Parallel()
	nats := testenv.NewBroker(t)
	client := nats.NewBus(t)
	srv := serve(t, map[string]health.Check{
		"mongo": connectMongo(t, testenv.MongoURI(t)),
		"nats":  client.Check,
	})

	require.Eventually(t, ready(t, srv), 20*time.Second, 20*time.Millisecond)
	assert.JSONEq(t, `{"status":"ok"}`, get(t, srv, "/readyz").body)

	nats.Stop(t)
	require.Eventually(t, func() bool { return !ready(t, srv)() }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, []errs.Item{{Message: "nats is not reachable"}}, failed(t, get(t, srv, "/readyz")),
		"only the failed check is named")
	assert.Equal(t, http.StatusOK, get(t, srv, "/healthz").status, "a missing broker does not make the process dead")

	nats.Start(t)
	require.Eventually(t, ready(t, srv), 30*time.Second, 50*time.Millisecond, "ready again once the broker is back")
}

// A service whose events wait in its outbox stays ready while the broker is
// away: the broker's check is run and reported, but it takes no request down.
func TestABrokerThatOnlyDegradesKeepsTheServiceReady(t *testing.T) {
	t.Parallel()
	nats := testenv.NewBroker(t)
	client := nats.NewBus(t)
	srv := serveDegrading(t,
		map[string]health.Check{"mongo": connectMongo(t, testenv.MongoURI(t))},
		map[string]health.Check{"nats": client.Check})
	require.Eventually(t, func() bool { return strings.TrimSpace(get(t, srv, "/readyz").body) == `{"status":"ok"}` }, 20*time.Second, 20*time.Millisecond)

	nats.Stop(t)
	var a answer
	require.Eventually(t, func() bool {
		a = get(t, srv, "/readyz")
		return strings.TrimSpace(a.body) != `{"status":"ok"}`
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, http.StatusOK, a.status, "a degraded service is still ready: %s", a.body)
	assert.JSONEq(t, `{"status":"degraded","degraded":[{"message":"nats is not reachable"}]}`, a.body)

	nats.Start(t)
	require.Eventually(t, func() bool { return strings.TrimSpace(get(t, srv, "/readyz").body) == `{"status":"ok"}` }, 30*time.Second, 50*time.Millisecond,
		"no longer degraded once the broker is back")
}

// A gating failure still answers 503, and names the degraded check beside it.
func TestAnUnreadyServiceAlsoNamesWhatIsDegraded(t *testing.T) {
	t.Parallel()
	srv := serveDegrading(t,
		map[string]health.Check{"mongo": func(context.Context) error { return fmt.Errorf("dial tcp: refused") }},
		map[string]health.Check{"nats": func(context.Context) error { return fmt.Errorf("stan: connection lost") }})
	assert.Equal(t, []errs.Item{{Message: "mongo is not reachable"}, {Message: "nats is not reachable"}},
		failed(t, get(t, srv, "/readyz")))
}

func TestReadinessNamesAnUnreachableDatabase(t *testing.T) {
	t.Parallel()
	port, err := testenv.FreePort()
	require.NoError(t, err)
	srv := serve(t, map[string]health.Check{
		"mongo": connectMongo(t, fmt.Sprintf("mongodb://127.0.0.1:%d/", port)),
		"nats":  func(context.Context) error { return nil },
	})
	start := time.Now()
	a := get(t, srv, "/readyz")
	assert.Less(t, time.Since(start), health.Timeout+time.Second, "a check is bounded by health.Timeout")
	assert.Equal(t, []errs.Item{{Message: "mongo is not reachable"}}, failed(t, a))
	assert.NotContains(t, a.body, "127.0.0.1", "the cause goes to the log, not the answer")
}

func TestReadinessNamesEveryFailedCheck(t *testing.T) {
	t.Parallel()
	srv := serve(t, map[string]health.Check{
		"redis":  func(context.Context) error { return fmt.Errorf("dial tcp: refused") },
		"mongo":  func(context.Context) error { return nil },
		"stripe": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, // hangs
	})
	start := time.Now()
	a := get(t, srv, "/readyz")
	assert.Less(t, time.Since(start), health.Timeout+time.Second, "a hung check fails the probe instead of hanging it")
	assert.Equal(t, []errs.Item{{Message: "redis is not reachable"}, {Message: "stripe is not reachable"}}, failed(t, a))
}

// A check that is not an outage says what it waits for, in its own words,
// next to the outages named as usual.
func TestReadinessShowsWhatIsNotReadyYet(t *testing.T) {
	t.Parallel()
	srv := serve(t, map[string]health.Check{
		"indexes": func(context.Context) error {
			return fmt.Errorf("creating: %w", health.NotReady("indexes are not ready"))
		},
		"mongo": func(context.Context) error { return fmt.Errorf("dial tcp: refused") },
	})
	assert.Equal(t, []errs.Item{{Message: "indexes are not ready"}, {Message: "mongo is not reachable"}},
		failed(t, get(t, srv, "/readyz")))
}
