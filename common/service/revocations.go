package service

import (
	"context"
	"log/slog"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
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

	warn := func(error) slog.Level { return slog.LevelWarn }
	d.startupStep("revocations", NotReadyRevocations, "replaying session revocations failed; trying again", retry{revocationRetryFirst, revocationRetryMax}, warn, func(ctx context.Context) error {
		err := d.Bus.Replay(ctx, time.Now().Add(-ttl), func(ctx context.Context, m bus.Message) error {
			p, err := events.Decode[events.SessionRevoked](m.Envelope)
			if err != nil {
				d.Logger.Warn("skipping a malformed session:revoked", "event", m.Envelope.ID, "err", err)
				return nil
			}
			return apply(ctx, p)
		}, events.SubjectSessionRevoked)
		if err == nil {
			d.Logger.Info("session revocations replayed", "held", revoked.Len())
		}
		return err
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
