package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
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
	"ticketing.dev/common/apitest"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type harness struct {
	t     *testing.T
	api   *apitest.Client
	users *store.Users
	bus   *bus.Client
}

type options struct {
	hasher *user.Hasher
	limits api.Limits
	secure bool
	env    map[string]string
}

// newHarness starts auth as main does. What no environment variable can say
// — the hasher, the per-email limit — the test sets on the configuration
// LoadConfig read, and the test binary keeps the runtime's memory limit.
func newHarness(t *testing.T, opts options) *harness {
	t.Helper()
	if opts.hasher == nil {
		opts.hasher = user.NewFastHasher()
	}
	if opts.limits == (api.Limits{}) {
		opts.limits = api.Limits{PerEmailBurst: 1000, PerEmailEvery: time.Millisecond, PerIPBurst: 1000, PerIPEvery: time.Millisecond,
			SignupPerIPBurst: 1000, SignupPerIPEvery: time.Millisecond}
	}
	spec := app.Service
	spec.LoadConfig = func(env *config.Env, common config.Common) (app.Config, error) {
		cfg, err := app.LoadConfig(env, common)
		cfg.Hasher, cfg.Limits, cfg.LimitMemory = opts.hasher, opts.limits, false
		return cfg, err
	}
	svc := servicetest.Start(t, spec,
		servicetest.Set("COOKIE_SECURE", strconv.FormatBool(opts.secure)), servicetest.Env(opts.env))
	return &harness{t: t, api: svc.API, users: svc.App.Users, bus: svc.Deps.Bus}
}

// do sends a request; every answer of auth that has a body is a JSON object.
func (h *harness) do(method, path string, body any, opts ...apitest.Option) apitest.Response {
	h.t.Helper()
	res := h.api.Do(method, path, body, opts...)
	if res.Raw != "" {
		res.Object(h.t)
	}
	return res
}

func creds(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// errorFields returns the fields named by a common error body, sorted, and
// checks its shape.
func errorFields(t *testing.T, r apitest.Response) []string {
	t.Helper()
	fields := r.Fields(t)
	slices.Sort(fields)
	return fields
}

func TestSignupCreatesAUserAndStartsASession(t *testing.T) {
	h := newHarness(t, options{secure: true})
	res := h.do("POST", "/api/users/signup", creds("  Alice@Example.COM ", "correct horse"))

	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	assert.Equal(t, "alice@example.com", res.Object(t)["email"], "emails are trimmed and lower-cased")
	assert.NotEmpty(t, res.Object(t)["id"])
	assert.NotContains(t, res.Raw, "password")
	assert.NotContains(t, res.Raw, "_id")

	c := res.Cookie(t, session.CookieName)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)

	me := h.do("GET", "/api/users/currentuser", nil, apitest.As(c.Value))
	require.Equal(t, http.StatusOK, me.Status)
	assert.Equal(t, map[string]any{"id": res.Object(t)["id"], "email": "alice@example.com"}, me.Object(t)["currentUser"])
}

func TestCookieIsNotSecureWhenConfiguredOff(t *testing.T) {
	h := newHarness(t, options{secure: false})
	res := h.do("POST", "/api/users/signup", creds("bob@example.com", "password1"))
	require.Equal(t, http.StatusCreated, res.Status)
	assert.False(t, res.Cookie(t, session.CookieName).Secure)
}

func TestSignupPublishesUserCreated(t *testing.T) {
	h := newHarness(t, options{})
	got := testenv.Record(t, h.bus, events.SubjectUserCreated)
	res := h.do("POST", "/api/users/signup", creds("carol@example.com", "password1"))
	require.Equal(t, http.StatusCreated, res.Status)
	id := res.Object(t)["id"]

	require.Eventually(t, func() bool {
		return len(testenv.Payloads(t, got, func(p events.UserCreated) bool {
			return p.ID == id && p.Email == "carol@example.com"
		})) > 0
	}, 10*time.Second, 20*time.Millisecond)
}

func TestDuplicateEmailInAnyCaseConflicts(t *testing.T) {
	h := newHarness(t, options{})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("dave@example.com", "password1")).Status)
	for _, email := range []string{"dave@example.com", "DAVE@example.com", " Dave@Example.Com"} {
		res := h.do("POST", "/api/users/signup", creds(email, "password2"))
		assert.Equal(t, http.StatusConflict, res.Status, email)
		assert.Equal(t, "Email in use", res.Message(t))
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
			statuses <- h.do("POST", "/api/users/signup", creds(email, "password1")).Status
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
			assert.Equal(t, tc.status, res.Status, res.Raw)
			assert.Equal(t, tc.fields, errorFields(t, res))
		})
	}
}

func TestUnknownRouteAndMethodAnswerInTheCommonBody(t *testing.T) {
	h := newHarness(t, options{})
	res := h.do("GET", "/api/users/nope", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	errorFields(t, res)
	res = h.do("DELETE", "/api/users/signup", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, res.Status)
	errorFields(t, res)
}

func TestSigninWithTheRightPasswordStartsASession(t *testing.T) {
	h := newHarness(t, options{})
	up := h.do("POST", "/api/users/signup", creds("erin@example.com", "password1"))
	require.Equal(t, http.StatusCreated, up.Status)

	res := h.do("POST", "/api/users/signin", creds("ERIN@example.com ", "password1"))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	assert.Equal(t, up.Object(t)["id"], res.Object(t)["id"])
	me := h.do("GET", "/api/users/currentuser", nil, apitest.As(res.Cookie(t, session.CookieName).Value))
	assert.Equal(t, "erin@example.com", me.Object(t)["currentUser"].(map[string]any)["email"])
}

func TestSigninFailuresLookTheSame(t *testing.T) {
	h := newHarness(t, options{})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("frank@example.com", "password1")).Status)

	wrong := h.do("POST", "/api/users/signin", creds("frank@example.com", "password2"))
	unknown := h.do("POST", "/api/users/signin", creds("nobody@example.com", "password1"))
	assert.Equal(t, http.StatusUnauthorized, wrong.Status)
	assert.Equal(t, http.StatusUnauthorized, unknown.Status)
	assert.Equal(t, wrong.Raw, unknown.Raw, "the same body for both")
	assert.Empty(t, wrong.Header.Values("Set-Cookie"))
}

// TestSigninFailuresTakeSimilarTime uses the production hasher: the hash
// dominates both paths, so the medians stay within a wide factor of each other
// even on a busy machine. Without the dummy comparison an unknown email would
// answer in well under a millisecond.
func TestSigninFailuresTakeSimilarTime(t *testing.T) {
	h := newHarness(t, options{hasher: user.NewHasher()})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("gina@example.com", "password1")).Status)
	median := func(body string) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			require.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", body).Status)
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
	h := newHarness(t, options{limits: api.Limits{PerEmailBurst: 3, PerEmailEvery: time.Hour, PerIPBurst: 100, PerIPEvery: time.Millisecond,
		SignupPerIPBurst: 100, SignupPerIPEvery: time.Millisecond}})
	for range 3 {
		assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("hank@example.com", "password1")).Status)
	}
	res := h.do("POST", "/api/users/signin", creds("HANK@example.com", "password1"))
	assert.Equal(t, http.StatusTooManyRequests, res.Status)
	errorFields(t, res)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("other@example.com", "password1")).Status,
		"another email is not affected")
}

func TestSigninIsRateLimitedPerClientAddress(t *testing.T) {
	h := newHarness(t, options{limits: api.Limits{PerEmailBurst: 100, PerEmailEvery: time.Millisecond, PerIPBurst: 3, PerIPEvery: time.Hour,
		SignupPerIPBurst: 100, SignupPerIPEvery: time.Millisecond, TrustProxy: true}})
	for i := range 3 {
		res := h.do("POST", "/api/users/signin", creds("user"+string(rune('a'+i))+"@example.com", "password1"), from("203.0.113.5"))
		assert.Equal(t, http.StatusUnauthorized, res.Status)
	}
	assert.Equal(t, http.StatusTooManyRequests, h.do("POST", "/api/users/signin", creds("userz@example.com", "password1"), from("203.0.113.5")).Status)
	assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("userz@example.com", "password1"), from("203.0.113.6")).Status)
}

// from says which client address a request comes from, as the ingress
// appends it to X-Forwarded-For (the first hop is the client's own claim).
func from(ip string) apitest.Option { return apitest.Header("X-Forwarded-For", "198.51.100.7, "+ip) }

// tooMany checks a refusal: 429, the common body, and when to come back.
func tooMany(t *testing.T, res apitest.Response) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, res.Status, res.Raw)
	assert.Len(t, res.Errors(t), 1)
	seconds, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", res.Header.Get("Retry-After"))
	assert.Positive(t, seconds)
}

func TestAThirdPartysFailuresNeverRefuseTheOwnersPassword(t *testing.T) {
	limits := api.DefaultLimits
	limits.TrustProxy = true
	h := newHarness(t, options{limits: limits})
	const owner, attacker = "192.0.2.10", "203.0.113.66"
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("olga@example.com", "the right one"), from(owner)).Status)

	refused := 0
	for i := range 50 {
		res := h.do("POST", "/api/users/signin", creds("olga@example.com", "guess-"+strconv.Itoa(i)), from(attacker))
		if res.Status == http.StatusTooManyRequests {
			tooMany(t, res)
			refused++
			continue
		}
		require.Equal(t, http.StatusUnauthorized, res.Status, res.Raw)
	}
	assert.Equal(t, 50-api.DefaultLimits.PerEmailBurst, refused, "the guessing address is slowed down")

	res := h.do("POST", "/api/users/signin", creds("olga@example.com", "the right one"), from(owner))
	require.Equal(t, http.StatusOK, res.Status, "the owner's address is not the attacker's: %s", res.Raw)
	assert.NotEmpty(t, res.Cookie(t, session.CookieName).Value)
	tooMany(t, h.do("POST", "/api/users/signin", creds("olga@example.com", "the right one"), from(attacker)))
}

func TestOnlyFailuresCountAndASuccessForgivesThem(t *testing.T) {
	h := newHarness(t, options{limits: api.Limits{PerEmailBurst: 3, PerEmailEvery: time.Hour, PerIPBurst: 100, PerIPEvery: time.Millisecond,
		SignupPerIPBurst: 100, SignupPerIPEvery: time.Millisecond}})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("tara@example.com", "password1")).Status)
	for range 5 {
		for range 2 {
			assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("tara@example.com", "typo")).Status)
		}
		require.Equal(t, http.StatusOK, h.do("POST", "/api/users/signin", creds("tara@example.com", "password1")).Status)
	}
	for range 3 {
		assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signin", creds("tara@example.com", "typo")).Status)
	}
	tooMany(t, h.do("POST", "/api/users/signin", creds("tara@example.com", "password1")))
}

func TestASignupFloodFromOneAddressIsRefusedBeforeAnyHash(t *testing.T) {
	hasher := user.NewFastHasher()
	h := newHarness(t, options{hasher: hasher, limits: api.Limits{PerEmailBurst: 100, PerEmailEvery: time.Millisecond, PerIPBurst: 100, PerIPEvery: time.Millisecond,
		SignupPerIPBurst: 3, SignupPerIPEvery: time.Hour, TrustProxy: true}})
	const flooder = "203.0.113.99"
	before := hasher.Derivations()
	created := 0
	for i := range 20 {
		res := h.do("POST", "/api/users/signup", creds("flood"+strconv.Itoa(i)+"@example.com", "password1"), from(flooder))
		if res.Status == http.StatusCreated {
			created++
			continue
		}
		tooMany(t, res)
		assert.Equal(t, "Too many signups; try again later", res.Message(t))
		_, err := h.users.ByEmail(t.Context(), "flood"+strconv.Itoa(i)+"@example.com")
		assert.ErrorIs(t, err, user.ErrNotFound)
	}
	assert.Equal(t, 3, created)
	assert.Equal(t, int64(3), hasher.Derivations()-before, "a refused signup ran no hash")

	tooMany(t, h.do("POST", "/api/users/signup", "not even JSON", from(flooder)))
	assert.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("someone@example.com", "password1"), from("192.0.2.20")).Status,
		"another address signs up")
}

func TestTheStandardChainGuardsAuthsRoutes(t *testing.T) {
	h := newHarness(t, options{env: map[string]string{"PUBLIC_ORIGINS": "https://shop.example.test"}})
	signup := creds("uma@example.com", "password1")

	untyped := apitest.Option(func(r *http.Request) { r.Header.Del("Content-Type") })
	res := h.do("POST", "/api/users/signup", signup, untyped)
	assert.Equal(t, http.StatusUnsupportedMediaType, res.Status, "a body sent with no Content-Type: %s", res.Raw)
	res = h.do("POST", "/api/users/signup", signup, apitest.Header("Sec-Fetch-Site", "same-site"))
	assert.Equal(t, http.StatusForbidden, res.Status, res.Raw)
	res = h.do("POST", "/api/users/signup", signup, apitest.Header("Origin", "https://evil.example.test"))
	assert.Equal(t, http.StatusForbidden, res.Status, res.Raw)
	assert.Len(t, res.Errors(t), 1)
	_, err := h.users.ByEmail(t.Context(), "uma@example.com")
	require.ErrorIs(t, err, user.ErrNotFound, "no refused signup created the user")

	res = h.do("POST", "/api/users/signup", signup, apitest.Header("Origin", "https://shop.example.test"))
	require.Equal(t, http.StatusCreated, res.Status, "the public origin signs up: %s", res.Raw)
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))

	me := h.do("GET", "/api/users/currentuser", nil, apitest.As(res.Cookie(t, session.CookieName).Value))
	assert.Equal(t, "no-store", me.Header.Get("Cache-Control"), "what a session sees is never cached")
	anonymous := h.do("GET", "/api/users/currentuser", nil)
	assert.Equal(t, "nosniff", anonymous.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", anonymous.Header.Get("Cache-Control"), "who someone is, or that they are nobody, is not shared")
}

func TestSignoutClearsTheCookie(t *testing.T) {
	h := newHarness(t, options{})
	res := h.do("POST", "/api/users/signout", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, map[string]any{}, res.Object(t))
	c := res.Cookie(t, session.CookieName)
	assert.Empty(t, c.Value)
	assert.Less(t, c.MaxAge, 0)
	assert.True(t, c.HttpOnly)
}

func (h *harness) currentUser(token string) any {
	h.t.Helper()
	return h.do("GET", "/api/users/currentuser", nil, apitest.As(token)).Object(h.t)["currentUser"]
}

func TestSignoutRevokesThatSessionEverywhere(t *testing.T) {
	h := newHarness(t, options{})
	revocations := testenv.Record(t, h.bus, events.SubjectSessionRevoked)
	signup := h.do("POST", "/api/users/signup", creds("dave@example.com", "password1"))
	require.Equal(t, http.StatusCreated, signup.Status)
	copied := signup.Cookie(t, session.CookieName).Value
	other := h.do("POST", "/api/users/signin", creds("dave@example.com", "password1")).Cookie(t, session.CookieName).Value

	res := h.do("POST", "/api/users/signout", nil, apitest.As(copied))
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, map[string]any{}, res.Object(t))
	assert.Empty(t, res.Cookie(t, session.CookieName).Value)

	require.Eventually(t, func() bool { return h.currentUser(copied) == nil }, 2*time.Second, 20*time.Millisecond,
		"the copied token is refused within 2 s")
	assert.NotNil(t, h.currentUser(other), "another session of the same user keeps working")
	published := testenv.Payloads(t, revocations, func(p events.SessionRevoked) bool {
		return p.UserID == signup.Object(t)["id"] && p.ID != "" && p.RevokedBefore.IsZero() && p.ExpiresAt.After(time.Now())
	})
	assert.Len(t, published, 1, "signout publishes session:revoked with the token's id")
}

func TestSignoutAllNeedsASessionAndRevokesOnlyTheCallersSessions(t *testing.T) {
	h := newHarness(t, options{})
	require.Equal(t, http.StatusUnauthorized, h.do("POST", "/api/users/signout-all", nil).Status)

	first := h.do("POST", "/api/users/signup", creds("erin@example.com", "password1")).Cookie(t, session.CookieName).Value
	second := h.do("POST", "/api/users/signin", creds("erin@example.com", "password1")).Cookie(t, session.CookieName).Value
	frank := h.do("POST", "/api/users/signup", creds("frank@example.com", "password1")).Cookie(t, session.CookieName).Value

	res := h.do("POST", "/api/users/signout-all", nil, apitest.As(second))
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, map[string]any{}, res.Object(t))
	require.Eventually(t, func() bool { return h.currentUser(first) == nil && h.currentUser(second) == nil },
		2*time.Second, 20*time.Millisecond, "every session of the caller is refused within 2 s")
	assert.NotNil(t, h.currentUser(frank), "another user's session keeps working")
}

func TestCurrentUserIsNullWithoutAValidSession(t *testing.T) {
	h := newHarness(t, options{})
	other, err := session.NewManager("another-key-0123456789abcdef-0123456789", true)
	require.NoError(t, err)
	otherKey, err := other.Token(session.User{ID: "u1", Email: "x@example.com"})
	require.NoError(t, err)
	expiredMgr, err := session.NewManager(servicetest.JWTKey, true, session.WithClock(func() time.Time { return time.Now().Add(-48 * time.Hour) }))
	require.NoError(t, err)
	expired, err := expiredMgr.Token(session.User{ID: "u1", Email: "x@example.com"})
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": "u1", "email": "x@example.com", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	cases := map[string][]apitest.Option{
		"no cookie":          nil,
		"garbage":            {apitest.As("garbage")},
		"another key":        {apitest.As(otherKey)},
		"alg none":           {apitest.As(none)},
		"expired":            {apitest.As(expired)},
		"empty cookie value": {apitest.As("")},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			res := h.do("GET", "/api/users/currentuser", nil, opts...)
			require.Equal(t, http.StatusOK, res.Status)
			assert.JSONEq(t, `{"currentUser":null}`, res.Raw)
		})
	}
}

func TestPasswordsAreStoredOnlyAsSaltedHashes(t *testing.T) {
	h := newHarness(t, options{})
	for _, email := range []string{"ivy@example.com", "jack@example.com"} {
		require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds(email, "same password")).Status)
	}
	cur, err := h.users.Outbox().Collection().Find(testenv.Context(t), bson.M{})
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

func TestADatabaseOutageAnswers503InTheCommonBody(t *testing.T) {
	uri, proxy := testenv.ProxiedDatabaseURI(t)
	h := newHarness(t, options{env: map[string]string{"MONGO_URI": uri}})
	require.Equal(t, http.StatusCreated, h.do("POST", "/api/users/signup", creds("kim@example.com", "password1")).Status)

	proxy.Cut()
	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		res := h.do("POST", path, creds("kim@example.com", "password1"))
		assert.Equal(t, http.StatusServiceUnavailable, res.Status, "%s: %s", path, res.Raw)
		assert.Equal(t, "Service temporarily unavailable", res.Message(t))
	}

	proxy.Restore()
	require.Eventually(t, func() bool {
		return h.do("POST", "/api/users/signin", creds("kim@example.com", "password1")).Status == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "auth serves again once the database is back")
}
