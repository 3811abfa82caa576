// Package ratelimit limits how often one key (an email, a user, a client
// address) may try something, with a token bucket per key; Guard is the
// middleware that limits one route per signed-in user and per address.
//
// The buckets live in the process: with several replicas each enforces its own
// limit, so the effective limit is replicas times the configured one. That is
// still a hard ceiling on password guessing or a bot's reservations, and
// needs no shared store.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter holds one token bucket per key.
type Limiter struct {
	every time.Duration
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

// New allows burst attempts at once per key, and one more every `every`.
func New(burst int, every time.Duration) *Limiter {
	return &Limiter{every: every, burst: burst, buckets: map[string]*bucket{}}
}

// Allow takes one attempt for key. When none is left it reports false and how
// long until the next one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{limiter: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// Forget gives key a full bucket again: a signin that proved the password
// wipes out the failures that came before it from the same address.
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// forgetIdle drops buckets that have refilled completely, so memory stays
// bounded by the keys seen recently. l.mu is held.
func (l *Limiter) forgetIdle(now time.Time) {
	full := l.every * time.Duration(l.burst)
	if now.Sub(l.sweep) < full {
		return
	}
	l.sweep = now
	for key, b := range l.buckets {
		if now.Sub(b.seen) >= full {
			delete(l.buckets, key)
		}
	}
}
