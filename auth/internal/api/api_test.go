package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/auth/internal/api"
	"ticketing.dev/auth/internal/app"
	"ticketing.dev/auth/internal/store"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/service"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const jwtKey = "test-key-at-least-16-chars"

type harness struct {
	t        *testing.T
	srv      *httptest.Server
	users    *store.Users
	bus      *bus.Client
	relay    *outbox.Relay
	sessions *session.Manager
}

type options struct {
	hasher *user.Hasher
	limits api.Limits
	secure bool
}

func newHarness(t *testing.T, opts options) *harness {
	t.Helper()
	db := testenv.NewDatabase(t)
	users := store.NewUsers(db)
	require.NoError(t, users.EnsureIndexes(testenv.Context(t)))
	sessions, err := session.NewManager(jwtKey, opts.secure)
	require.NoError(t, err)
	b := testenv.NewBus(t, testenv.NATSURL(t))
	relay := outbox.NewRelay(b, testenv.Logger(t), users.Collection())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if opts.hasher == nil {
		opts.hasher = user.NewFastHasher()
	}
	if opts.limits == (api.Limits{}) {
		opts.limits = api.Limits{PerEmailBurst: 1000, PerEmailEvery: time.Millisecond, PerIPBurst: 1000, PerIPEvery: time.Millisecond}
	}
	deps := &service.Deps{Name: "auth", Logger: testenv.Logger(t), DB: db, Bus: b, Sessions: sessions}
	srv := httptest.NewServer(app.Handler(deps, users, opts.hasher, opts.limits, relay.Notify))
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, users: users, bus: b, relay: relay, sessions: sessions}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) do(method, path, body string, mutate ...func(*http.Request)) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	require.NoError(h.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, m := range mutate {
		m(req)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: buf.String()}
	if buf.Len() > 0 {
		require.NoError(h.t, json.Unmarshal(buf.Bytes(), &out.body), "body: %s", buf.String())
	}
	return out
}

func withCookie(value string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: session.CookieName, Value: value}) }
}

func sessionCookie(t *testing.T, r response) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == session.CookieName {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", r.header)
	return nil
}

func creds(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// errorFields returns the fields named by a common error body, and checks its shape.
func errorFields(t *testing.T, r response) []string {
	t.Helper()
	list, ok := r.body["errors"].([]any)
	require.True(t, ok, "common error body expected, got %s", r.raw)
	require.NotEmpty(t, list)
	var fields []string
	for _, item := range list {
		m := item.(map[string]any)
		require.NotEmpty(t, m["message"], "every error has a message: %s", r.raw)
		if f, ok := m["field"].(string); ok {
			fields = append(fields, f)
		}
	}
	sort.Strings(fields)
	return fields
}

func errorMessage(t *testing.T, r response) string {
	t.Helper()
	errorFields(t, r)
	return r.body["errors"].([]any)[0].(map[string]any)["message"].(string)
}

func TestSignupCreatesAUserAndStartsASession(t *testing.T) {
	h := newHarness(t, options{secure: true})
	res := h.do("POST", "/api/users/signup", creds("  Alice@Example.COM ", "correct horse"))

	require.Equal(t, http.StatusCreated, res.status, res.raw)
	assert.Equal(t, "alice@example.com", res.body["email"], "emails are trimmed and lower-cased")
	assert.NotEmpty(t, res.body["id"])
	assert.NotContains(t, res.raw, "password")
	assert.NotContains(t, res.raw, "_id")

	c := sessionCookie(t, res)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)

	me := h.do("GET", "/api/users/currentuser", "", withCookie(c.Value))
	require.Equal(t, http.StatusOK, me.status)
	assert.Equal(t, map[string]any{"id": res.body["id"], "email": "alice@example.com"}, me.body["currentUser"])
}

func TestCookieIsNotSecureWhenConfiguredOff(t *testing.T) {
	h := newHarness(t, options{secure: false})
	res := h.do("POST", "/api/users/signup", creds("bob@example.com", "password1"))
	require.Equal(t, http.StatusCreated, res.status)
	assert.False(t, sessionCookie(t, res).Secure)
}

func TestSignupPublishesUserCreated(t *testing.T) {
	h := newHarness(t, options{})
	var mu sync.Mutex
	var got []events.UserCreated
	require.NoError(t, h.bus.Subscribe(bus.Subscription{
		Subject: events.SubjectUserCreated, Queue: testenv.RandomName("q"),
		Handler: func(_ context.Context, m bus.Message) error {
			p, err := events.Decode[events.UserCreated](m.Envelope)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			got = append(got, p)
			return nil
		},
	}))
	res := h.do("POST", "/api/users/signup", creds("carol@example.com", "password1"))
	require.Equal(t, http.StatusCreated, res.status)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range got {
			if p.ID == res.body["id"] && p.Email == "carol@example.com" {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond)
}

func TestDuplicateEmailInAnyCaseConflicts(t *testing.T) {
	h := newHarness(t, options{})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("dave@example.com", "password1")).status)
	for _, email := range []string{"dave@example.com", "DAVE@example.com", " Dave@Example.Com"} {
		res := h.do("POST", "/api/users/signup", creds(email, "password2"))
		assert.Equal(t, http.StatusConflict, res.status, email)
		assert.Equal(t, "Email in use", errorMessage(t, res))
	}
}

func TestConcurrentSignupsWithOneEmailCreateOneUser(t *testing.T) {
	h := newHarness(t, options{})
	statuses := make(chan int, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "race@example.com"
			if i%2 == 1 {
				email = "RACE@example.com"
			}
			statuses <- h.do("POST", "/api/users/signup", creds(email, "password1")).status
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: 9}, counts)
}

func TestBadInputIsAClientErrorInTheCommonBody(t *testing.T) {
	h := newHarness(t, options{})
	huge := `{"email":"a@b.co","password":"` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct {
		name   string
		path   string
		body   string
		status int
		fields []string
	}{
		{"invalid email", "/api/users/signup", creds("not-an-email", "password1"), 400, []string{"email"}},
		{"missing email", "/api/users/signup", `{"password":"password1"}`, 400, []string{"email"}},
		{"short password", "/api/users/signup", creds("e@example.com", "short"), 400, []string{"password"}},
		{"overlong password", "/api/users/signup", creds("e@example.com", strings.Repeat("p", 129)), 400, []string{"password"}},
		{"both invalid", "/api/users/signup", creds("nope", "x"), 400, []string{"email", "password"}},
		{"email of wrong type", "/api/users/signup", `{"email":42,"password":"password1"}`, 400, []string{"email"}},
		{"unknown field", "/api/users/signup", `{"email":"e@example.com","password":"password1","admin":true}`, 400, []string{"admin"}},
		{"malformed JSON", "/api/users/signup", `{"email":`, 400, nil},
		{"JSON array", "/api/users/signup", `[{"email":"e@example.com","password":"password1"}]`, 400, nil},
		{"trailing data", "/api/users/signup", creds("e@example.com", "password1") + `{}`, 400, nil},
		{"empty body", "/api/users/signup", ``, 400, nil},
		{"1 MB body", "/api/users/signup", huge, 413, nil},
		{"signin invalid email", "/api/users/signin", creds("nope", "password1"), 400, []string{"email"}},
		{"signin missing password", "/api/users/signin", `{"email":"e@example.com"}`, 400, []string{"password"}},
		{"signin malformed", "/api/users/signin", `nope`, 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.do("POST", tc.path, tc.body)
			assert.Equal(t, tc.status, res.status, res.raw)
			assert.Equal(t, tc.fields, errorFields(t, res))
		})
	}
}

func TestUnknownRouteAndMethodAnswerInTheCommonBody(t *testing.T) {
	h := newHarness(t, options{})
	res := h.do("GET", "/api/users/nope", "")
	assert.Equal(t, http.StatusNotFound, res.status)
	errorFields(t, res)
	res = h.do("DELETE", "/api/users/signup", "")
	assert.Equal(t, http.StatusMethodNotAllowed, res.status)
	errorFields(t, res)
}

func TestSigninWithTheRightPasswordStartsASession(t *testing.T) {
	h := newHarness(t, options{})
	up := h.do("POST", "/api/users/signup", creds("erin@example.com", "password1"))
	require.Equal(t, http.StatusCreated, up.status)

	res := h.do("POST", "/api/users/signin", creds("ERIN@example.com ", "password1"))
	require.Equal(t, http.StatusOK, res.status, res.raw)
	assert.Equal(t, up.body["id"], res.body["id"])
	me := h.do("GET", "/api/users/currentuser", "", withCookie(sessionCookie(t, res).Value))
	assert.Equal(t, "erin@example.com", me.body["currentUser"].(map[string]any)["email"])
}

func TestSigninFailuresLookTheSame(t *testing.T) {
	h := newHarness(t, options{})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("frank@example.com", "password1")).status)

	wrong := h.do("POST", "/api/users/signin", creds("frank@example.com", "password2"))
	unknown := h.do("POST", "/api/users/signin", creds("nobody@example.com", "password1"))
	assert.Equal(t, http.StatusUnauthorized, wrong.status)
	assert.Equal(t, http.StatusUnauthorized, unknown.status)
	assert.Equal(t, wrong.raw, unknown.raw, "the same body for both")
	assert.Empty(t, wrong.header.Values("Set-Cookie"))
}

// TestSigninFailuresTakeSimilarTime uses the production hasher: the hash
// dominates both paths, so the medians stay within a wide factor of each other
// even on a busy machine. Without the dummy comparison an unknown email would
// answer in well under a millisecond.
func TestSigninFailuresTakeSimilarTime(t *testing.T) {
	h := newHarness(t, options{hasher: user.NewHasher()})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("gina@example.com", "password1")).status)
	median := func(body string) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			require.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", body).status)
			ds = append(ds, time.Since(start))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	wrong := median(creds("gina@example.com", "wrong-password"))
	unknown := median(creds("nobody@example.com", "wrong-password"))
	t.Logf("median signin failure: wrong password %v, unknown email %v", wrong, unknown)
	assert.Greater(t, unknown, wrong/4)
	assert.Greater(t, wrong, unknown/4)
}

func TestSigninIsRateLimitedPerEmail(t *testing.T) {
	h := newHarness(t, options{limits: api.Limits{PerEmailBurst: 3, PerEmailEvery: time.Hour, PerIPBurst: 100, PerIPEvery: time.Millisecond}})
	for range 3 {
		assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("hank@example.com", "password1")).status)
	}
	res := h.do("POST", "/api/users/signin", creds("HANK@example.com", "password1"))
	assert.Equal(t, http.StatusTooManyRequests, res.status)
	errorFields(t, res)
	assert.NotEmpty(t, res.header.Get("Retry-After"))
	assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("other@example.com", "password1")).status,
		"another email is not affected")
}

func TestSigninIsRateLimitedPerClientAddress(t *testing.T) {
	h := newHarness(t, options{limits: api.Limits{PerEmailBurst: 100, PerEmailEvery: time.Millisecond, PerIPBurst: 3, PerIPEvery: time.Hour, TrustProxy: true}})
	from := func(ip string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Forwarded-For", "198.51.100.7, "+ip) }
	}
	for i := range 3 {
		res := h.do("POST", "/api/users/signin", creds("user"+string(rune('a'+i))+"@example.com", "password1"), from("203.0.113.5"))
		assert.Equal(t, http.StatusUnauthorized, res.status)
	}
	assert.Equal(t, http.StatusTooManyRequests, h.do("POST", "/api/users/signin", creds("userz@example.com", "password1"), from("203.0.113.5")).status)
	assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("userz@example.com", "password1"), from("203.0.113.6")).status)
}

func TestSignoutClearsTheCookie(t *testing.T) {
	h := newHarness(t, options{})
	res := h.do("POST", "/api/users/signout", "")
	require.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, map[string]any{}, res.body)
	c := sessionCookie(t, res)
	assert.Empty(t, c.Value)
	assert.Less(t, c.MaxAge, 0)
	assert.True(t, c.HttpOnly)
}

func TestCurrentUserIsNullWithoutAValidSession(t *testing.T) {
	h := newHarness(t, options{})
	other, err := session.NewManager("another-key-of-16+chars", true)
	require.NoError(t, err)
	otherKey, err := other.Token(session.User{ID: "u1", Email: "x@example.com"})
	require.NoError(t, err)
	expiredMgr, err := session.NewManager(jwtKey, true, session.WithClock(func() time.Time { return time.Now().Add(-48 * time.Hour) }))
	require.NoError(t, err)
	expired, err := expiredMgr.Token(session.User{ID: "u1", Email: "x@example.com"})
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": "u1", "email": "x@example.com", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	cases := map[string][]func(*http.Request){
		"no cookie":          nil,
		"garbage":            {withCookie("garbage")},
		"another key":        {withCookie(otherKey)},
		"alg none":           {withCookie(none)},
		"expired":            {withCookie(expired)},
		"empty cookie value": {withCookie("")},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			res := h.do("GET", "/api/users/currentuser", "", mutate...)
			require.Equal(t, http.StatusOK, res.status)
			assert.JSONEq(t, `{"currentUser":null}`, res.raw)
		})
	}
}

func TestPasswordsAreStoredOnlyAsSaltedHashes(t *testing.T) {
	h := newHarness(t, options{})
	for _, email := range []string{"ivy@example.com", "jack@example.com"} {
		require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds(email, "same password")).status)
	}
	cur, err := h.users.Collection().Find(testenv.Context(t), bson.M{})
	require.NoError(t, err)
	var docs []bson.M
	require.NoError(t, cur.All(testenv.Context(t), &docs))
	require.Len(t, docs, 2)
	hashes := map[string]bool{}
	for _, d := range docs {
		raw, err := bson.MarshalExtJSON(d, false, false)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), "same password")
		hash := d["passwordHash"].(string)
		assert.True(t, strings.HasPrefix(hash, "$argon2id$"), hash)
		hashes[hash] = true
	}
	assert.Len(t, hashes, 2, "the same password hashes differently for two users")
}
