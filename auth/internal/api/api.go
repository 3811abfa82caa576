// Package api serves auth's routes (DESIGN.md §2):
//
//	POST /api/users/signup      {email,password}  201 user, session cookie set
//	POST /api/users/signin      {email,password}  200 user, session cookie set
//	POST /api/users/signout                       200 {}, session cookie cleared, that session revoked
//	POST /api/users/signout-all                   200 {}, every session of the caller revoked (auth required)
//	GET  /api/users/currentuser                   200 {"currentUser": user or null}
package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/ratelimit"
	"ticketing.dev/common/session"
)

// Users is the storage the routes need.
type Users interface {
	Create(ctx context.Context, u *user.User) error
	ByEmail(ctx context.Context, email string) (user.User, error)
	// RevokeSessions records a revocation and queues its session:revoked event.
	RevokeSessions(ctx context.Context, rev events.SessionRevoked) error
}

// Limits bounds signin and signup attempts. None of them can be spent by a
// third party on the owner's behalf: the failures that slow down guessing one
// email are counted per email and address, and a signin from the owner's own
// address has a bucket of its own (auth/README.md, "Rate limits").
type Limits struct {
	// PerEmail bounds failed signins for one email from one address. A
	// correct password refills that bucket.
	PerEmailBurst int
	PerEmailEvery time.Duration
	// PerIP bounds every signin attempt from one address, whatever the email:
	// what one address can guess across many accounts.
	PerIPBurst int
	PerIPEvery time.Duration
	// SignupPerIP bounds signups from one address, checked before the body
	// is read: each signup costs a hash, and answers whether an email exists.
	SignupPerIPBurst int
	SignupPerIPEvery time.Duration
	// TrustProxy reads the client address from the last X-Forwarded-For hop,
	// which the ingress or gateway in front of us appends. Off, a client could
	// forge the header to dodge the per-address limit.
	TrustProxy bool
}

// DefaultLimits: per email and address 5 failed tries then one a minute; 30
// signins per address then one every 2 seconds; 10 signups per address then
// one every 30 seconds.
var DefaultLimits = Limits{
	PerEmailBurst: 5, PerEmailEvery: time.Minute,
	PerIPBurst: 30, PerIPEvery: 2 * time.Second,
	SignupPerIPBurst: 10, SignupPerIPEvery: 30 * time.Second,
}

// Deps is what the handlers use.
type Deps struct {
	Users    Users
	Hasher   *user.Hasher
	Sessions *session.Manager
	Limits   Limits
	Now      func() time.Time
}

type handlers struct {
	Deps
	perEmail    *ratelimit.Limiter
	perIP       *ratelimit.Limiter
	signupPerIP *ratelimit.Limiter
}

// Mount adds auth's routes to r.
func Mount(r chi.Router, d Deps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &handlers{
		Deps:        d,
		perEmail:    ratelimit.New(d.Limits.PerEmailBurst, d.Limits.PerEmailEvery),
		perIP:       ratelimit.New(d.Limits.PerIPBurst, d.Limits.PerIPEvery),
		signupPerIP: ratelimit.New(d.Limits.SignupPerIPBurst, d.Limits.SignupPerIPEvery),
	}
	r.Route("/api/users", func(r chi.Router) {
		r.Post("/signup", httpx.Handle(h.signup))
		r.Post("/signin", httpx.Handle(h.signin))
		r.Post("/signout", httpx.Handle(h.signout))
		r.With(middleware.RequireAuth).Post("/signout-all", httpx.Handle(h.signoutAll))
		r.Get("/currentuser", httpx.Handle(h.currentUser))
	})
}

// credentials is the body of signup and signin.
type credentials struct {
	Email    string `json:"email" validate:"required,max=254,email"`
	Password string `json:"password" validate:"required,min=8,max=128"`
}

func (c *credentials) Normalize() { c.Email = user.NormalizeEmail(c.Email) }

// signinCredentials checks only presence: a signin never reveals the rules a
// stored password once had to meet.
type signinCredentials struct {
	Email    string `json:"email" validate:"required,max=254,email"`
	Password string `json:"password" validate:"required,max=128"`
}

func (c *signinCredentials) Normalize() { c.Email = user.NormalizeEmail(c.Email) }

// userResponse is a user as clients see it: never a password or hash.
type userResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

func (h *handlers) signup(w http.ResponseWriter, r *http.Request) error {
	if ok, wait := h.signupPerIP.Allow(clientIP(r, h.Limits.TrustProxy), h.Now()); !ok {
		return tooMany(w, wait, "Too many signups; try again later")
	}
	var req credentials
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	hash, err := h.Hasher.Hash(req.Password)
	if err != nil {
		return err
	}
	u := user.User{Email: req.Email, PasswordHash: hash, CreatedAt: h.Now().UTC()}
	if err := h.Users.Create(r.Context(), &u); err != nil {
		return toHTTP(err)
	}
	if err := h.Sessions.SetCookie(w, session.User{ID: u.ID, Email: u.Email}); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, userResponse{ID: u.ID, Email: u.Email})
	return nil
}

func (h *handlers) signin(w http.ResponseWriter, r *http.Request) error {
	var req signinCredentials
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	now := h.Now()
	ip := clientIP(r, h.Limits.TrustProxy)
	if ok, wait := h.perIP.Allow(ip, now); !ok {
		return tooMany(w, wait, signinRefused)
	}
	// The address is part of the key, so another address's failures never
	// refuse this one; the \x00 cannot occur in an email or an address.
	emailAtIP := req.Email + "\x00" + ip
	if ok, wait := h.perEmail.Allow(emailAtIP, now); !ok {
		return tooMany(w, wait, signinRefused)
	}
	u, err := h.Users.ByEmail(r.Context(), req.Email)
	if errors.Is(err, user.ErrNotFound) {
		// An unknown email costs the time of a wrong password.
		h.Hasher.CompareDummy(req.Password)
	}
	if err != nil {
		return toHTTP(err)
	}
	match, err := h.Hasher.Compare(u.PasswordHash, req.Password)
	if err != nil {
		return err
	}
	if !match {
		return errs.InvalidCredentials()
	}
	// Only failures count: the owner's typos before a success are forgiven.
	h.perEmail.Forget(emailAtIP)
	if err := h.Sessions.SetCookie(w, session.User{ID: u.ID, Email: u.Email}); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, userResponse{ID: u.ID, Email: u.Email})
	return nil
}

const signinRefused = "Too many signin attempts; try again later"

func tooMany(w http.ResponseWriter, wait time.Duration, message string) error {
	seconds := int(wait.Round(time.Second).Seconds())
	if seconds < 1 {
		seconds = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	return errs.TooManyRequests(message)
}

// signout ends the request's session everywhere, not only in this browser: a
// copy of the token is refused by every service once the revocation reaches
// it. Without a valid session there is nothing to revoke, and the answer is
// the same. The cookie is cleared even when the revocation cannot be stored
// (503), so the browser's session ends either way.
func (h *handlers) signout(w http.ResponseWriter, r *http.Request) error {
	h.Sessions.ClearCookie(w)
	if t, ok := h.Sessions.TokenFromRequest(r); ok {
		err := h.Users.RevokeSessions(r.Context(), events.SessionRevoked{ID: t.ID, UserID: t.User.ID, ExpiresAt: t.ExpiresAt})
		if err != nil && !errors.Is(err, user.ErrNotFound) {
			return err
		}
	}
	httpx.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// signoutAll revokes every session of the caller issued up to now, this one
// included.
func (h *handlers) signoutAll(w http.ResponseWriter, r *http.Request) error {
	u, _ := session.UserFrom(r.Context())
	now := h.Now()
	h.Sessions.ClearCookie(w)
	err := h.Users.RevokeSessions(r.Context(), events.SessionRevoked{UserID: u.ID, RevokedBefore: now, ExpiresAt: now.Add(h.Sessions.TTL())})
	if err != nil && !errors.Is(err, user.ErrNotFound) {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *handlers) currentUser(w http.ResponseWriter, r *http.Request) error {
	var current *userResponse
	if u, ok := session.UserFrom(r.Context()); ok {
		current = &userResponse{ID: u.ID, Email: u.Email}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]*userResponse{"currentUser": current})
	return nil
}

// toHTTP is the one place where user errors become HTTP errors; a database
// outage becomes 503 in httpx.WriteError. An unknown email answers exactly as
// a wrong password does.
var toHTTP = httpx.ErrorMap{
	{Err: user.ErrEmailInUse, Answer: errs.Conflict("Email in use")},
	{Err: user.ErrNotFound, Answer: errs.InvalidCredentials()},
}.Map

// clientIP is the address rate limits count against.
func clientIP(r *http.Request, trustProxy bool) string { return ratelimit.ClientAddress(r, trustProxy) }
