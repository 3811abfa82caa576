package middleware_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/session"
)

// guarded is a server with the standard chain whose handlers count the
// requests that reached them: a refused request must not.
type guarded struct {
	url     string
	reached atomic.Int64
}

func newGuarded(t *testing.T) *guarded {
	t.Helper()
	sessions, err := session.NewManager(key, false)
	require.NoError(t, err)
	g := &guarded{}
	r := chi.NewRouter()
	r.Use(middleware.Standard(slog.New(slog.DiscardHandler), sessions, middleware.Browsers{
		PublicOrigins: []string{publicOrigin, "http://127.0.0.1:8080"},
		Exempt:        []string{"POST /webhook"},
	})...)
	reach := func(w http.ResponseWriter, _ *http.Request) {
		g.reached.Add(1)
		httpx.WriteJSON(w, http.StatusCreated, map[string]string{})
	}
	r.Post("/orders", reach)
	r.Put("/orders", reach)
	r.Patch("/orders", reach)
	r.Delete("/orders", reach)
	r.Get("/orders", reach)
	r.Post("/webhook", reach)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

type attempt struct {
	method, path string
	body         io.Reader
	header       map[string]string
}

func (g *guarded) send(t *testing.T, a attempt) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(a.method, g.url+a.path, a.body)
	require.NoError(t, err)
	for k, v := range a.header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, raw
}

// commonBody decodes raw strictly as the common error body.
func commonBody(t *testing.T, raw []byte) errs.Body {
	t.Helper()
	var got errs.Body
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&got), "body %s", raw)
	require.Len(t, got.Errors, 1)
	return got
}

func jsonBody() io.Reader { return bytes.NewBufferString(`{"ticketId":"x"}`) }

// chunked hides the length, as a streamed body is sent.
type chunked struct{ io.Reader }

func TestBodiesThatAreNotDeclaredJSONAreRefusedWith415(t *testing.T) {
	g := newGuarded(t)
	for name, a := range map[string]attempt{
		// What fetch(url, {method: "POST", body: new ArrayBuffer(8)}) sends.
		"no content type":          {method: "POST", body: bytes.NewReader(make([]byte, 8))},
		"no content type, chunked": {method: "POST", body: chunked{jsonBody()}},
		"text/plain":               {method: "POST", body: jsonBody(), header: map[string]string{"Content-Type": "text/plain"}},
		"a form":                   {method: "POST", body: bytes.NewBufferString("ticketId=x"), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		"multipart":                {method: "PUT", body: jsonBody(), header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}},
		"PATCH without a type":     {method: "PATCH", body: jsonBody()},
		"DELETE without a type":    {method: "DELETE", body: jsonBody()},
		"a malformed type":         {method: "POST", body: jsonBody(), header: map[string]string{"Content-Type": "application/json; ="}},
	} {
		t.Run(name, func(t *testing.T) {
			a.path = "/orders"
			status, header, raw := g.send(t, a)
			require.Equal(t, http.StatusUnsupportedMediaType, status, "%s", raw)
			assert.Equal(t, "application/json; charset=utf-8", header.Get("Content-Type"))
			assert.Equal(t, errs.Body{Errors: []errs.Item{{Message: "Content-Type must be application/json"}}}, commonBody(t, raw))
		})
	}
	assert.Zero(t, g.reached.Load(), "a refused request reached its handler")
}

func TestRequestsFromAnotherSiteOrOriginAreRefusedWith403(t *testing.T) {
	g := newGuarded(t)
	jsonType := map[string]string{"Content-Type": "application/json"}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for name, a := range map[string]attempt{
		"cross-site fetch":          {method: "POST", body: jsonBody(), header: with(map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": publicOrigin})},
		"same-site sibling host":    {method: "POST", body: jsonBody(), header: with(map[string]string{"Sec-Fetch-Site": "same-site"})},
		"another localhost port":    {method: "DELETE", header: map[string]string{"Origin": "http://127.0.0.1:9999"}},
		"an opaque origin":          {method: "POST", body: jsonBody(), header: with(map[string]string{"Origin": "null"})},
		"a form from another site":  {method: "POST", body: bytes.NewBufferString("ticketId=x"), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example.test", "Sec-Fetch-Site": "cross-site"}},
		"a look-alike origin":       {method: "PUT", body: jsonBody(), header: with(map[string]string{"Origin": publicOrigin + ".evil.test"})},
		"the public host, in https": {method: "PATCH", body: jsonBody(), header: with(map[string]string{"Origin": "https://shop.example.test"})},
	} {
		t.Run(name, func(t *testing.T) {
			a.path = "/orders"
			status, header, raw := g.send(t, a)
			require.Equal(t, http.StatusForbidden, status, "%s", raw)
			assert.Equal(t, "application/json; charset=utf-8", header.Get("Content-Type"))
			got := commonBody(t, raw)
			assert.Contains(t, got.Errors[0].Message, "not allowed")
			assert.Empty(t, got.Errors[0].Field)
		})
	}
	assert.Zero(t, g.reached.Load(), "a refused request reached its handler")

	// What the client's own pages, other services and curl send passes.
	for name, a := range map[string]attempt{
		"same origin":                {method: "POST", body: jsonBody(), header: with(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": publicOrigin})},
		"the second public origin":   {method: "PUT", body: jsonBody(), header: with(map[string]string{"Origin": "http://127.0.0.1:8080"})},
		"typed into the address bar": {method: "POST", body: jsonBody(), header: with(map[string]string{"Sec-Fetch-Site": "none"})},
		"no browser at all":          {method: "POST", body: jsonBody(), header: jsonType},
		"JSON with a charset":        {method: "POST", body: jsonBody(), header: map[string]string{"Content-Type": "application/json; charset=utf-8"}},
		"an empty DELETE":            {method: "DELETE", header: map[string]string{"Origin": publicOrigin, "Sec-Fetch-Site": "same-origin"}},
		"an empty POST (signout)":    {method: "POST", header: map[string]string{"Origin": publicOrigin}},
		"a cross-site GET (a link)":  {method: "GET", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example.test"}},
	} {
		t.Run(name, func(t *testing.T) {
			a.path = "/orders"
			status, _, raw := g.send(t, a)
			assert.Equal(t, http.StatusCreated, status, "%s", raw)
		})
	}
}

func TestAnExemptRouteTakesAnyOriginAndContentType(t *testing.T) {
	g := newGuarded(t)
	status, _, raw := g.send(t, attempt{method: "POST", path: "/webhook", body: bytes.NewBufferString("{}"),
		header: map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": "https://stripe.example.test", "Sec-Fetch-Site": "cross-site"}})
	assert.Equal(t, http.StatusCreated, status, "%s", raw)
	status, _, raw = g.send(t, attempt{method: "POST", path: "/webhook", body: bytes.NewBufferString("raw")})
	assert.Equal(t, http.StatusCreated, status, "%s", raw)
	status, _, _ = g.send(t, attempt{method: "POST", path: "/orders", body: bytes.NewBufferString("raw"),
		header: map[string]string{"Origin": "https://stripe.example.test"}})
	assert.Equal(t, http.StatusForbidden, status, "the exemption is the route's alone")
}

func TestResponsesAreNosniffAndSessionsAreNeverCached(t *testing.T) {
	srv := newServer(t, slog.New(slog.DiscardHandler))
	status, header, _ := get(t, srv, "/whoami", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "nosniff", header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", header.Get("Cache-Control"), "no answer is cached unless its route says it is public")

	status, header, _ = get(t, srv, "/nowhere", nil)
	require.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "nosniff", header.Get("X-Content-Type-Options"), "errors too")

	valid := &http.Cookie{Name: session.CookieName, Value: token(t, key, time.Now())}
	for _, path := range []string{"/whoami", "/mine", "/nowhere", "/signin"} {
		_, header, _ = get(t, srv, path, valid)
		assert.Equal(t, "nosniff", header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "no-store", header.Get("Cache-Control"), path)
	}
	expired := &http.Cookie{Name: session.CookieName, Value: token(t, key, time.Now().Add(-2*session.DefaultTTL))}
	_, header, _ = get(t, srv, "/whoami", expired)
	assert.Equal(t, "no-store", header.Get("Cache-Control"), "an invalid cookie is no session, and changes nothing")

	for _, cookie := range []*http.Cookie{nil, valid} {
		status, header, _ = get(t, srv, "/public", cookie)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, "public, max-age=1", header.Get("Cache-Control"), "a public read is the same with a session or without")
		assert.NotEmpty(t, header.Get("ETag"))
	}
	status, header, _ = get(t, srv, "/signin", nil)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, header.Values("Set-Cookie"))
	assert.Equal(t, "no-store", header.Get("Cache-Control"), "an answer that sets a cookie is never cached, whatever its handler said")
}
