// Package session issues and verifies the session: an HS256 JWT in an HttpOnly
// cookie named "session" (DESIGN.md §3). Every service verifies it the same way.
package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// CookieName is the session cookie's name.
const CookieName = "session"

// DefaultTTL is how long a session lasts.
const DefaultTTL = 24 * time.Hour

// User is who a valid session belongs to.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
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
}

// Option adjusts a Manager.
type Option func(*Manager)

// WithTTL sets how long issued sessions last.
func WithTTL(ttl time.Duration) Option { return func(m *Manager) { m.ttl = ttl } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// NewManager returns a Manager signing with key. secure sets the cookie's
// Secure attribute; only plain-http local runs turn it off.
func NewManager(key string, secure bool, opts ...Option) (*Manager, error) {
	if len(key) < 16 {
		return nil, errors.New("session: JWT_KEY must be at least 16 characters")
	}
	m := &Manager{key: []byte(key), secure: secure, ttl: DefaultTTL, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Token signs a session token for u.
func (m *Manager) Token(u User) (string, error) {
	now := m.now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Email: u.Email,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(m.ttl)),
		},
	})
	return t.SignedString(m.key)
}

// Verify returns the user a token belongs to. It refuses any algorithm but
// HS256, a bad signature, a missing or past exp, and a token without a subject.
func (m *Manager) Verify(token string) (User, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return m.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(m.now),
	)
	if err != nil {
		return User{}, fmt.Errorf("session: %w", err)
	}
	if c.Subject == "" {
		return User{}, errors.New("session: token has no subject")
	}
	return User{ID: c.Subject, Email: c.Email}, nil
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
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return User{}, false
	}
	u, err := m.Verify(c.Value)
	if err != nil {
		return User{}, false
	}
	return u, true
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
