package session_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/session"
)

const key = "a-test-key-0123456789abcdef-0123456789"

var alice = session.User{ID: "6650a1b2c3d4e5f601234567", Email: "alice@example.com"}

func newManager(t *testing.T, secure bool, opts ...session.Option) *session.Manager {
	t.Helper()
	m, err := session.NewManager(key, secure, opts...)
	require.NoError(t, err)
	return m
}

func sign(t *testing.T, method jwt.SigningMethod, signingKey any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(signingKey)
	require.NoError(t, err)
	return s
}

func TestNewManagerRefusesAShortKey(t *testing.T) {
	_, err := session.NewManager("short", true)
	assert.Error(t, err)
}

func TestTokenRoundTrip(t *testing.T) {
	m := newManager(t, true)
	token, err := m.Token(alice)
	require.NoError(t, err)
	got, err := m.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, alice, got)
}

func TestTokenIsHS256WithIssuedAtAndExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := newManager(t, true, session.WithClock(func() time.Time { return now }), session.WithTTL(time.Hour))
	token, err := m.Token(alice)
	require.NoError(t, err)

	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(key), nil },
		jwt.WithTimeFunc(func() time.Time { return now }))
	require.NoError(t, err)
	assert.Equal(t, "HS256", parsed.Method.Alg())
	assert.EqualValues(t, now.Unix(), claims["iat"])
	assert.EqualValues(t, now.Add(time.Hour).Unix(), claims["exp"])
	assert.Equal(t, alice.ID, claims["sub"])
}

func TestVerifyRefuses(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"jti": "0123456789abcdef0123456789abcdef", "sub": alice.ID, "email": alice.Email, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	without := func(name string) jwt.MapClaims { c := valid(); delete(c, name); return c }
	with := func(name string, v any) jwt.MapClaims { c := valid(); c[name] = v; return c }
	other, err := session.NewManager("another-key-0123456789abcdef-0123456789", true)
	require.NoError(t, err)
	otherToken, err := other.Token(alice)
	require.NoError(t, err)
	good := sign(t, jwt.SigningMethodHS256, []byte(key), valid())
	parts := strings.Split(good, ".")
	tamperedClaims := sign(t, jwt.SigningMethodHS256, []byte(key), with("sub", "someone-else"))
	tampered := parts[0] + "." + strings.Split(tamperedClaims, ".")[1] + "." + parts[2]

	for _, tc := range []struct {
		name  string
		token string
	}{
		{"signed with another key", otherToken},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, []byte(key), valid())},
		{"HS384 with the right key", sign(t, jwt.SigningMethodHS384, []byte(key), valid())},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, valid())},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(key), with("exp", now.Add(-time.Minute).Unix()))},
		{"without exp", sign(t, jwt.SigningMethodHS256, []byte(key), without("exp"))},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, []byte(key), with("iat", now.Add(time.Hour).Unix()))},
		{"without a subject", sign(t, jwt.SigningMethodHS256, []byte(key), without("sub"))},
		{"without an id", sign(t, jwt.SigningMethodHS256, []byte(key), without("jti"))},
		{"without iat", sign(t, jwt.SigningMethodHS256, []byte(key), without("iat"))},
		{"claims changed after signing", tampered},
		{"garbage", "not-a-token"},
		{"three garbage parts", "a.b.c"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newManager(t, true).Verify(tc.token)
			assert.Error(t, err)
		})
	}
	_, err = newManager(t, true).Verify(good)
	require.NoError(t, err, "the refusals above are for their reason, not for how the test signs")
}

func TestSessionExpiresAfterItsTTL(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	m := newManager(t, true, session.WithClock(func() time.Time { return clock() }), session.WithTTL(time.Hour))
	token, err := m.Token(alice)
	require.NoError(t, err)

	clock = func() time.Time { return now.Add(59 * time.Minute) }
	_, err = m.Verify(token)
	require.NoError(t, err)
	clock = func() time.Time { return now.Add(61 * time.Minute) }
	_, err = m.Verify(token)
	assert.Error(t, err)
}

func responseCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	assert.Equal(t, session.CookieName, cookies[0].Name)
	return cookies[0]
}

func TestSetCookie(t *testing.T) {
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "secure", false: "plain http"}[secure], func(t *testing.T) {
			m := newManager(t, secure, session.WithTTL(2*time.Hour))
			rec := httptest.NewRecorder()
			require.NoError(t, m.SetCookie(rec, alice))
			c := responseCookie(t, rec)
			assert.True(t, c.HttpOnly, "HttpOnly")
			assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
			assert.Equal(t, "/", c.Path)
			assert.Equal(t, secure, c.Secure)
			assert.Equal(t, int((2 * time.Hour).Seconds()), c.MaxAge)
			got, err := m.Verify(c.Value)
			require.NoError(t, err)
			assert.Equal(t, alice, got)
		})
	}
}

func TestClearCookie(t *testing.T) {
	m := newManager(t, true)
	rec := httptest.NewRecorder()
	m.ClearCookie(rec)
	c := responseCookie(t, rec)
	assert.Less(t, c.MaxAge, 0, "the browser drops the cookie at once")
	assert.Empty(t, c.Value)
	assert.Equal(t, "/", c.Path, "the same path as the cookie it clears")
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
}

func TestFromRequest(t *testing.T) {
	m := newManager(t, true)
	token, err := m.Token(alice)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		ok     bool
	}{
		{"valid session", &http.Cookie{Name: session.CookieName, Value: token}, true},
		{"no cookie", nil, false},
		{"empty cookie", &http.Cookie{Name: session.CookieName, Value: ""}, false},
		{"garbage cookie", &http.Cookie{Name: session.CookieName, Value: "garbage"}, false},
		{"token under another name", &http.Cookie{Name: "token", Value: token}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			u, ok := m.FromRequest(r)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, alice, u)
			}
		})
	}
}

func TestUnusableManagerVerifiesNothing(t *testing.T) {
	token, err := newManager(t, true).Token(alice)
	require.NoError(t, err)
	_, err = session.Unusable().Verify(token)
	assert.Error(t, err)
}

func TestEveryTokenHasItsOwnID(t *testing.T) {
	m := newManager(t, true)
	seen := map[string]bool{}
	for range 20 {
		token, err := m.Token(alice)
		require.NoError(t, err)
		parsed, err := m.Parse(token)
		require.NoError(t, err)
		require.Len(t, parsed.ID, 32)
		require.False(t, seen[parsed.ID], "token ids repeat")
		seen[parsed.ID] = true
	}
}

func TestATokenPastSessionTTLIsRefused(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	issuer := newManager(t, true, session.WithClock(func() time.Time { return clock() }), session.WithTTL(24*time.Hour))
	token, err := issuer.Token(alice)
	require.NoError(t, err)
	// A verifier with a shorter SESSION_TTL refuses the token once that
	// lifetime has passed, whatever exp the issuer wrote.
	verifier := newManager(t, true, session.WithClock(func() time.Time { return clock() }), session.WithTTL(time.Hour))
	_, err = verifier.Verify(token)
	require.NoError(t, err)
	now = now.Add(time.Hour + time.Second)
	_, err = verifier.Verify(token)
	assert.Error(t, err)
}

func TestRevokedTokensAreRefused(t *testing.T) {
	revoked := session.NewRevocations()
	m := newManager(t, true, session.WithRevocations(revoked))
	bob := session.User{ID: "6650a1b2c3d4e5f601234568", Email: "bob@example.com"}
	first, err := m.Token(alice)
	require.NoError(t, err)
	second, err := m.Token(alice)
	require.NoError(t, err)
	bobs, err := m.Token(bob)
	require.NoError(t, err)

	parsed, err := m.Parse(first)
	require.NoError(t, err)
	revoked.RevokeToken(parsed.ID, parsed.ExpiresAt)
	_, err = m.Verify(first)
	require.ErrorIs(t, err, session.ErrRevoked)
	_, err = m.Verify(second)
	require.NoError(t, err, "signout revokes only its own token")

	revoked.RevokeUser(alice.ID, time.Now(), m.TTL())
	_, err = m.Verify(second)
	require.ErrorIs(t, err, session.ErrRevoked, "signout-all revokes every token of the user")
	_, err = m.Verify(bobs)
	require.NoError(t, err, "another user's session keeps working")
}

func TestRevocationsAreDroppedWhenTheTokenWouldHaveExpired(t *testing.T) {
	revoked := session.NewRevocations()
	revoked.RevokeToken("gone", time.Now().Add(-time.Second))
	revoked.RevokeUser("u-gone", time.Now().Add(-2*time.Hour), time.Hour)
	assert.Equal(t, 0, revoked.Len(), "an already expired token is not kept")
	revoked.RevokeToken("soon", time.Now().Add(50*time.Millisecond))
	require.Equal(t, 1, revoked.Len())
	require.Eventually(t, func() bool {
		revoked.RevokeToken("later", time.Now().Add(time.Hour)) // any revocation prunes
		return revoked.Len() == 1
	}, 5*time.Second, 100*time.Millisecond)
}

func TestCheckKeyRefusesWeakKeys(t *testing.T) {
	for _, weak := range []string{"0123456789abcdef", strings.Repeat("x", 64), strings.Repeat("abcd", 10), strings.Repeat("0123456789abcdef", 2)} {
		err := session.CheckKey(weak)
		require.Error(t, err, weak)
		assert.Contains(t, err.Error(), "JWT_KEY")
		_, err = session.NewManager(weak, true)
		assert.Error(t, err, weak)
	}
	assert.NoError(t, session.CheckKey("9d2f0c7a4e1b8356f0aa3c91e7d45b28c6"))
}
