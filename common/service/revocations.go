package service

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/health"
	"ticketing.dev/common/session"
)

// How a JWT service learns that sessions ended (DESIGN.md §3, docs/events.md):
// auth publishes session:revoked through its outbox, and every process of
// every JWT service keeps the revocations in memory (session.Revocations),
// which its session middleware consults on each request — no call to auth.
//
// Every process must see every revocation, so the feed is a queue group of
// its own, named after NATS_CLIENT_ID (unique per process). At start the
// process replays the channel from SESSION_TTL ago, since a token revoked
// earlier than that has expired anyway, and /readyz answers 503 until the
// replay is done: a restarted process is sent no request before it knows
// every revocation that still matters. Revocations are idempotent, so what
// the replay and the subscription both deliver does no harm.

// NotReadyRevocations is what /readyz says until the revocations are replayed.
const NotReadyRevocations = "session revocations are not replayed yet"

// RevocationQueue is the queue group of one process's revocation feed.
func RevocationQueue(clientID string) string { return "sessions-" + clientID }

// Replay is retried from revocationRetryFirst, doubling up to revocationRetryMax.
const (
	revocationRetryFirst = 200 * time.Millisecond
	revocationRetryMax   = 5 * time.Second
)

func (d *Deps) followRevocations(revoked *session.Revocations, clientID string) {
	ttl := d.Sessions.TTL()
	apply := func(_ context.Context, p events.SessionRevoked) error {
		applyRevocation(revoked, ttl, p)
		return nil
	}
	d.subscriptions = append(d.subscriptions, bus.On(RevocationQueue(clientID), apply))

	var replayed atomic.Bool
	d.Checks["revocations"] = func(context.Context) error {
		if replayed.Load() {
			return nil
		}
		return health.NotReady(NotReadyRevocations)
	}
	d.background = append(d.background, func(ctx context.Context) error {
		pause := revocationRetryFirst
		for {
			since := time.Now().Add(-ttl)
			err := d.Bus.Replay(ctx, since, func(ctx context.Context, m bus.Message) error {
				p, err := events.Decode[events.SessionRevoked](m.Envelope)
				if err != nil {
					d.Logger.Warn("skipping a malformed session:revoked", "event", m.Envelope.ID, "err", err)
					return nil
				}
				return apply(ctx, p)
			}, events.SubjectSessionRevoked)
			if err == nil {
				replayed.Store(true)
				d.Logger.Info("session revocations replayed", "held", revoked.Len())
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			d.Logger.Log(ctx, slog.LevelWarn, "replaying session revocations failed; trying again", "err", err, "in", pause)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			pause = min(2*pause, revocationRetryMax)
		}
	})
}

func applyRevocation(revoked *session.Revocations, ttl time.Duration, p events.SessionRevoked) {
	if !p.RevokedBefore.IsZero() {
		revoked.RevokeUser(p.UserID, p.RevokedBefore, ttl)
		return
	}
	if p.ID != "" {
		revoked.RevokeToken(p.ID, p.ExpiresAt)
	}
}
