package middleware_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/logtest"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/session"
)

const key = "a-test-key-0123456789abcdef-0123456789"

// publicOrigin is the one origin the test servers let make unsafe requests.
const publicOrigin = "http://shop.example.test"

var alice = session.User{ID: "6650a1b2c3d4e5f601234567", Email: "alice@example.com"}

func newServer(t *testing.T, logger *slog.Logger) *httptest.Server {
	t.Helper()
	sessions, err := session.NewManager(key, false)
	require.NoError(t, err)
	r := chi.NewRouter()
	r.Use(middleware.Standard(logger, sessions, middleware.Browsers{PublicOrigins: []string{publicOrigin}})...)
	r.NotFound(httpx.NotFoundHandler)
	// Anyone may ask who they are; an invalid cookie is the same as none.
	r.Get("/whoami", func(w http.ResponseWriter, r *http.Request) {
		var current *session.User
		if u, ok := session.UserFrom(r.Context()); ok {
			current = &u
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"currentUser": current})
	})
	r.With(middleware.RequireAuth).Get("/mine", func(w http.ResponseWriter, r *http.Request) {
		u, _ := session.UserFrom(r.Context())
		httpx.WriteJSON(w, http.StatusOK, u)
	})
	// A public read, and a handler that wrongly calls its answer public
	// while starting a session.
	r.Get("/public", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteSnapshot(w, r, httpx.NewSnapshot([]byte("{}\n"), time.Now()), time.Second, time.Now())
	})
	r.Get("/signin", func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, sessions.SetCookie(w, alice))
		httpx.WriteSnapshot(w, r, httpx.NewSnapshot([]byte("{}\n"), time.Now()), time.Second, time.Now())
	})
	r.Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func token(t *testing.T, signingKey string, now time.Time) string {
	t.Helper()
	m, err := session.NewManager(signingKey, false, session.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	s, err := m.Token(alice)
	require.NoError(t, err)
	return s
}

func get(t *testing.T, srv *httptest.Server, path string, cookie *http.Cookie) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	require.NoError(t, err)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header, body
}

func TestCurrentUserAndRequireAuth(t *testing.T) {
	srv := newServer(t, slog.New(slog.DiscardHandler))
	sessionCookie := func(value string) *http.Cookie { return &http.Cookie{Name: session.CookieName, Value: value} }
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		valid  bool
	}{
		{"valid session", sessionCookie(token(t, key, time.Now())), true},
		{"no cookie", nil, false},
		{"garbage cookie", sessionCookie("garbage"), false},
		{"expired session", sessionCookie(token(t, key, time.Now().Add(-2*session.DefaultTTL))), false},
		{"signed with another key", sessionCookie(token(t, "another-key-0123456789abcdef-0123456789", time.Now())), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := get(t, srv, "/whoami", tc.cookie)
			require.Equal(t, http.StatusOK, status, "an invalid cookie is no error where no session is needed")
			if tc.valid {
				assert.JSONEq(t, `{"currentUser":{"id":"6650a1b2c3d4e5f601234567","email":"alice@example.com"}}`, string(body))
			} else {
				assert.JSONEq(t, `{"currentUser":null}`, string(body))
			}

			status, header, body := get(t, srv, "/mine", tc.cookie)
			if tc.valid {
				require.Equal(t, http.StatusOK, status)
				assert.JSONEq(t, `{"id":"6650a1b2c3d4e5f601234567","email":"alice@example.com"}`, string(body))
				return
			}
			require.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, "application/json; charset=utf-8", header.Get("Content-Type"))
			var got errs.Body
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&got))
			assert.Equal(t, errs.Body{Errors: []errs.Item{{Message: "Not authorized"}}}, got)
		})
	}
}

// records decodes what a JSON logger wrote to logs so far.
func records(t *testing.T, logs *logtest.Buffer) []map[string]any {
	t.Helper()
	recs, err := logs.Records()
	require.NoError(t, err)
	return recs
}

func TestLoggerWritesOneLinePerRequest(t *testing.T) {
	logs := &logtest.Buffer{}
	srv := newServer(t, slog.New(slog.NewJSONHandler(logs, nil)))
	status, _, _ := get(t, srv, "/nowhere", nil)
	require.Equal(t, http.StatusNotFound, status)

	require.Eventually(t, func() bool { return len(records(t, logs)) == 1 }, 5*time.Second, 10*time.Millisecond)
	rec := records(t, logs)[0]
	assert.Equal(t, "request", rec["msg"])
	assert.Equal(t, "GET", rec["method"])
	assert.Equal(t, "/nowhere", rec["path"])
	assert.EqualValues(t, http.StatusNotFound, rec["status"])
	assert.NotEmpty(t, rec["request_id"])
}

func TestRecovererLetsAnAbortedResponseAbort(t *testing.T) {
	srv := newServer(t, slog.New(slog.DiscardHandler))
	_, err := srv.Client().Get(srv.URL + "/abort")
	assert.Error(t, err, "http.ErrAbortHandler cuts the connection instead of answering 500")
}

func TestAFastSuccessIsADebugLineAndAFailureIsNot(t *testing.T) {
	logs := &logtest.Buffer{}
	srv := newServer(t, slog.New(slog.NewJSONHandler(logs, nil))) // info and up, as services run
	status, _, _ := get(t, srv, "/whoami", nil)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = get(t, srv, "/nowhere", nil)
	require.Equal(t, http.StatusNotFound, status)
	require.Eventually(t, func() bool { return len(records(t, logs)) == 1 }, 5*time.Second, 10*time.Millisecond)
	rec := records(t, logs)[0]
	assert.Equal(t, "/nowhere", rec["path"], "only the failure is logged at info")
	assert.Equal(t, "INFO", rec["level"])

	debug := &logtest.Buffer{}
	srv = newServer(t, slog.New(slog.NewJSONHandler(debug, &slog.HandlerOptions{Level: slog.LevelDebug})))
	status, _, _ = get(t, srv, "/whoami", nil)
	require.Equal(t, http.StatusOK, status)
	require.Eventually(t, func() bool { return len(records(t, debug)) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "DEBUG", records(t, debug)[0]["level"])
	assert.Equal(t, "/whoami", records(t, debug)[0]["path"])
}
