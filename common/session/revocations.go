package session

import (
	"sync"
	"time"
)

// Revocations is the set of sessions that ended before their expiry, as this
// process has learnt of them from auth's session:revoked events
// (common/service feeds it). Every entry is dropped once the tokens it names
// would have expired anyway, so the set holds at most SESSION_TTL's worth of
// signouts.
type Revocations struct {
	mu sync.RWMutex
	// tokens maps a revoked jti to when its token expires.
	tokens map[string]time.Time
	// users maps a user to the instant before which all their tokens are
	// revoked (signout-all), and when the last of those expires.
	users map[string]userRevocation
	now   func() time.Time
	// lastPrune bounds pruning to once a second however many revocations arrive.
	lastPrune time.Time
}

type userRevocation struct {
	before, until time.Time
}

// NewRevocations returns an empty set on the wall clock.
func NewRevocations() *Revocations {
	return &Revocations{tokens: map[string]time.Time{}, users: map[string]userRevocation{}, now: time.Now}
}

// RevokeToken revokes the token with id jti, which expires at expiresAt.
func (r *Revocations) RevokeToken(jti string, expiresAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked()
	if !r.now().Before(expiresAt) {
		return
	}
	r.tokens[jti] = expiresAt
}

// RevokeUser revokes every token of userID issued before before; ttl is how
// long such a token can live, after which the entry is useless.
func (r *Revocations) RevokeUser(userID string, before time.Time, ttl time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked()
	until := before.Add(ttl)
	if !r.now().Before(until) {
		return
	}
	if old, ok := r.users[userID]; ok && !old.before.Before(before) {
		return // a later signout-all already covers this one
	}
	r.users[userID] = userRevocation{before: before, until: until}
}

// Revoked reports whether t is revoked. A token issued in the same second as
// a signout-all counts as before it: iat has whole seconds only.
func (r *Revocations) Revoked(t Token) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.tokens[t.ID]; ok {
		return true
	}
	u, ok := r.users[t.User.ID]
	return ok && t.IssuedAt.Before(u.before)
}

// Len is how many entries the set holds.
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.tokens) + len(r.users)
}

func (r *Revocations) pruneLocked() {
	now := r.now()
	if now.Sub(r.lastPrune) < time.Second {
		return
	}
	r.lastPrune = now
	for id, exp := range r.tokens {
		if !now.Before(exp) {
			delete(r.tokens, id)
		}
	}
	for id, u := range r.users {
		if !now.Before(u.until) {
			delete(r.users, id)
		}
	}
}
