// Package session issues and verifies the session: an HS256 JWT in an HttpOnly
// cookie named "session" (DESIGN.md §3). Every service verifies it the same way.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// CookieName is the session cookie's name.
const CookieName = "session"

// DefaultTTL is a session's absolute lifetime (SESSION_TTL): signin again after it.
const DefaultTTL = 12 * time.Hour

// Key requirements (DESIGN.md §3): HS256 needs a key of at least 256 bits,
// and a long key made of a handful of characters ("aaaa…", "abcabc…") is as
// guessable as a short one.
const (
	MinKeyBytes         = 32
	MinKeyDistinctBytes = 12
)

// CheckKey refuses a JWT_KEY that is too short or trivially low-entropy; the
// error names the variable.
func CheckKey(key string) error {
	if len(key) < MinKeyBytes {
		return fmt.Errorf("JWT_KEY must be at least %d bytes, got %d", MinKeyBytes, len(key))
	}
	distinct := map[byte]bool{}
	for i := 0; i < len(key); i++ {
		distinct[key[i]] = true
	}
	if len(distinct) < MinKeyDistinctBytes {
		return fmt.Errorf("JWT_KEY has only %d distinct bytes, want at least %d: use a random key (e.g. openssl rand -base64 48)", len(distinct), MinKeyDistinctBytes)
	}
	for period := 1; period <= len(key)/2; period++ {
		if key[period:] == key[:len(key)-period] {
			return fmt.Errorf("JWT_KEY repeats a %d-byte pattern: use a random key", period)
		}
	}
	return nil
}

// User is who a valid session belongs to.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// Token is what a valid token says about its session: whose it is, its id
// (jti) and when it was issued and ends.
type Token struct {
	User      User
	ID        string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type claims struct {
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Manager issues and verifies sessions with one key.
type Manager struct {
	key    []byte
	secure bool
	ttl    time.Duration
	now    func() time.Time
	// revoked is consulted on every verification; nil, nothing is revoked.
	revoked *Revocations
}

// Option adjusts a Manager.
type Option func(*Manager)

// WithTTL sets how long issued sessions last.
func WithTTL(ttl time.Duration) Option { return func(m *Manager) { m.ttl = ttl } }

// WithRevocations makes the Manager refuse the tokens r holds revoked.
func WithRevocations(r *Revocations) Option { return func(m *Manager) { m.revoked = r } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// NewManager returns a Manager signing with key. secure sets the cookie's
// Secure attribute; only plain-http local runs turn it off.
func NewManager(key string, secure bool, opts ...Option) (*Manager, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	m := &Manager{key: []byte(key), secure: secure, ttl: DefaultTTL, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// TTL is the absolute lifetime of the sessions m issues.
func (m *Manager) TTL() time.Duration { return m.ttl }

// Token signs a session token for u, with a random id that signout revokes.
func (m *Manager) Token(u User) (string, error) {
	now := m.now()
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("session: token id: %w", err)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Email: u.Email,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        hex.EncodeToString(id),
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(m.ttl)),
		},
	})
	return t.SignedString(m.key)
}

// Verify returns the user a token belongs to. It refuses any algorithm but
// HS256, a bad signature, a missing or past exp, a token without a subject or
// id, and a revoked one.
func (m *Manager) Verify(token string) (User, error) {
	t, err := m.Parse(token)
	return t.User, err
}

// ErrRevoked is why a revoked token is refused.
var ErrRevoked = errors.New("session: token revoked")

// Parse is Verify returning all the token says.
func (m *Manager) Parse(token string) (Token, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return m.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(m.now),
	)
	if err != nil {
		return Token{}, fmt.Errorf("session: %w", err)
	}
	if c.Subject == "" {
		return Token{}, errors.New("session: token has no subject")
	}
	// A token without an id could not be revoked by signout: only a token
	// from before ids existed, which SESSION_TTL has ended anyway.
	if c.ID == "" {
		return Token{}, errors.New("session: token has no id")
	}
	if c.IssuedAt == nil {
		return Token{}, errors.New("session: token has no iat")
	}
	t := Token{User: User{ID: c.Subject, Email: c.Email}, ID: c.ID, IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time}
	// The lifetime is absolute as this process configures it, whatever exp
	// the token carries.
	if !m.now().Before(t.IssuedAt.Add(m.ttl)) {
		return Token{}, errors.New("session: token older than SESSION_TTL")
	}
	if m.revoked.Revoked(t) {
		return Token{}, ErrRevoked
	}
	return t, nil
}

// SetCookie starts a session for u on the response.
func (m *Manager) SetCookie(w http.ResponseWriter, u User) error {
	token, err := m.Token(u)
	if err != nil {
		return err
	}
	http.SetCookie(w, m.cookie(token, int(m.ttl.Seconds())))
	return nil
}

// ClearCookie ends the session on the response.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, m.cookie("", -1))
}

func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   m.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// FromRequest returns the user of the request's session cookie, if it is valid.
func (m *Manager) FromRequest(r *http.Request) (User, bool) {
	t, ok := m.TokenFromRequest(r)
	return t.User, ok
}

// TokenFromRequest returns the request's session token, if it is valid.
func (m *Manager) TokenFromRequest(r *http.Request) (Token, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return Token{}, false
	}
	t, err := m.Parse(c.Value)
	if err != nil {
		return Token{}, false
	}
	return t, true
}

type userKey struct{}

// WithUser stores the current user in ctx.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the current user, if the request had a valid session.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// Unusable returns a Manager whose key nobody holds, for services that have no
// sessions but share the middleware chain. Every cookie fails to verify.
func Unusable() *Manager {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Manager{key: key, secure: true, ttl: DefaultTTL, now: time.Now}
}
