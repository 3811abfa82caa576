package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingBackend answers every request as if it were public for a minute,
// unless told otherwise by the path (".../private" is no-store) or the query
// (?cookie sets one; ?slow takes 300 ms), and counts the requests it gets:
// the micro-cache must decide by route and by what the answer carries, not
// trust a service that calls everything public. A stand-in, as every
// gateway test uses: what is tested is nginx's configuration.
type countingBackend struct {
	mu   sync.Mutex
	seen map[string]int
}

func newCountingBackend(t *testing.T) (*countingBackend, int) {
	b := &countingBackend{seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen[r.Method+" "+r.URL.RequestURI()]++
		b.mu.Unlock()
		q := r.URL.Query()
		if q.Has("slow") {
			time.Sleep(300 * time.Millisecond)
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		if strings.HasSuffix(r.URL.Path, "/private") {
			w.Header().Set("Cache-Control", "no-store")
		}
		if q.Has("cookie") {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "someone's"})
		}
		w.Header().Set("ETag", `"v1"`)
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	port, _ := strconv.Atoi(strings.TrimPrefix(srv.URL, "http://127.0.0.1:"))
	return b, port
}

func (b *countingBackend) count(method, uri string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[method+" "+uri]
}

func send(t *testing.T, method, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func microCachedGateway(t *testing.T) (string, *countingBackend) {
	b, port := newCountingBackend(t)
	return startGateway(t, route{"auth", "/api/users", port}, route{"tickets", "/api/tickets", port},
		route{"orders", "/api/orders", port}), b
}

func TestGatewayMicroCachesThePublicReadsForASecond(t *testing.T) {
	gw, b := microCachedGateway(t)
	for _, uri := range []string{"/api/tickets", "/api/tickets?limit=5", "/api/tickets/6650a1b2c3d4e5f601234567"} {
		first := send(t, "GET", gw+uri, "Cookie", "theme=dark")
		assert.Equal(t, "MISS", first.Header.Get("X-Cache-Status"), uri)
		assert.Equal(t, "public, max-age=60", first.Header.Get("Cache-Control"), "a fresh answer says what the service said")
		asked := time.Now()
		second := send(t, "GET", gw+uri, "Cookie", "theme=light")
		if time.Since(asked) < time.Second {
			assert.Equal(t, "HIT", second.Header.Get("X-Cache-Status"), "%s: cookies are not in the key", uri)
			assert.Equal(t, "public, no-cache", second.Header.Get("Cache-Control"), "a copy claims no freshness of its own")
		}
		revalidated := send(t, "GET", gw+uri, "If-None-Match", `"v1"`)
		if time.Since(asked) < time.Second {
			assert.Equal(t, http.StatusNotModified, revalidated.StatusCode, "the gateway answers a revalidation from its copy")
			assert.Equal(t, 1, b.count("GET", uri), "%s: one request reached the service", uri)
		}
		head := send(t, "HEAD", gw+uri)
		assert.Equal(t, http.StatusOK, head.StatusCode)
	}

	// Whoever has a session is answered by the service (and refreshes the copy).
	uri := "/api/tickets"
	before := b.count("GET", uri)
	for range 2 {
		res := send(t, "GET", gw+uri, "Cookie", "session=alice")
		assert.Equal(t, "BYPASS", res.Header.Get("X-Cache-Status"), "a signed-in reader sees their own writes")
	}
	assert.Equal(t, before+2, b.count("GET", uri))

	// The service said max-age=60; the gateway keeps its copy a second.
	require.Eventually(t, func() bool { return send(t, "GET", gw+uri).Header.Get("X-Cache-Status") != "HIT" },
		3*time.Second, 50*time.Millisecond, "the copy outlived its second")
	assert.GreaterOrEqual(t, b.count("GET", uri), 2)
}

// GATEWAY_CACHE=off: every public read reaches the service.
func TestGatewayWithoutItsCacheSendsEveryReadOn(t *testing.T) {
	b, port := newCountingBackend(t)
	gw := startGatewayWith(t, func(g gateway) gateway { return g.withoutCache() }, route{"tickets", "/api/tickets", port})
	for range 3 {
		res := send(t, "GET", gw+"/api/tickets")
		assert.Empty(t, res.Header.Get("X-Cache-Status"))
	}
	assert.Equal(t, 3, b.count("GET", "/api/tickets"))
}

func TestGatewayNeverCachesWhatIsNotAPublicRead(t *testing.T) {
	gw, b := microCachedGateway(t)
	for _, c := range []struct{ method, uri, why string }{
		{"GET", "/api/tickets/mine", "a seller's own listings"},
		{"GET", "/api/tickets?cookie=1", "an answer that sets a cookie"},
		{"GET", "/api/tickets/private", "an answer the service calls no-store"},
		{"POST", "/api/tickets", "a write"},
		{"PUT", "/api/tickets/6650a1b2c3d4e5f601234567", "a write"},
		{"GET", "/api/orders", "orders"},
		{"GET", "/api/orders/6650a1b2c3d4e5f601234567", "orders"},
		{"GET", "/api/users/currentuser", "who someone is"},
	} {
		for range 2 {
			// No session: what keeps these out is the route or the answer.
			res := send(t, c.method, gw+c.uri)
			assert.NotEqual(t, "HIT", res.Header.Get("X-Cache-Status"), "%s %s: %s", c.method, c.uri, c.why)
		}
		assert.Equal(t, 2, b.count(c.method, c.uri), "%s %s: %s is never cached", c.method, c.uri, c.why)
	}
}

func TestGatewaySendsOneRequestForACrowdAskingAtOnce(t *testing.T) {
	gw, b := microCachedGateway(t)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			res, err := http.Get(gw + "/api/tickets?slow")
			if assert.NoError(t, err) {
				res.Body.Close()
				assert.Equal(t, http.StatusOK, res.StatusCode)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, b.count("GET", "/api/tickets?slow"), "proxy_cache_lock: the others waited for the first")
}
