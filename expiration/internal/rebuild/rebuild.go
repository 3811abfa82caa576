// Package rebuild notices that Redis has lost expiration's schedule and
// rebuilds it from the order events NATS Streaming still holds.
//
// Expiration has no record of open orders besides the jobs in Redis, and the
// events those jobs came from were acked by the durable queue group long ago.
// So when Redis loses its data (FLUSHALL, a restart without the append-only
// file, a crash that loses its last second, a new empty volume) nothing would
// ever lapse those orders. Redis carries a marker (store.Marker) that only a
// complete schedule of the running Redis process has; at start and every check
// interval the rebuilder looks for it, and when it is missing replays the
// order channels over the last Lookback, schedules every order created and
// neither cancelled nor completed in that history, then writes the marker.
// The job id is the order id, so scheduling an order that the listeners
// scheduled meanwhile changes nothing, and a deadline already past makes the
// job due at once.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/expiration/internal/expiry"
	"ticketing.dev/expiration/internal/store"
)

const (
	// DefaultCheckInterval is how often Redis is checked for the marker. It
	// bounds how late a hold whose job Redis lost lapses, on top of the
	// worker's own delay.
	DefaultCheckInterval = time.Second
	// DefaultLookback is how far back the order channels are replayed. It
	// must cover orders' reservation window (ORDER_EXPIRATION_WINDOW, 15 min
	// by default) and, beyond it, how long a due hold may fail to publish
	// (a broker outage) and still be worth lapsing from here.
	DefaultLookback = time.Hour
	// maxBackoff bounds the pause after failed rebuilds. A rebuild that fails
	// after its replay has read the whole lookback is not repeated every
	// second; one that fails because Redis refuses writes or the broker is
	// down fails at its first step, at no cost, and the pause is what it adds
	// to the lateness of the holds it restores once they are back.
	maxBackoff = 5 * time.Second
	// scheduleConcurrency is how many holds are written to Redis at once.
	scheduleConcurrency = 16
)

// Config tunes the rebuilder.
type Config struct {
	// CheckInterval is how often the marker is looked for
	// (EXPIRATION_MARKER_CHECK_INTERVAL).
	CheckInterval time.Duration
	// Lookback is how much order history a rebuild reads
	// (EXPIRATION_REBUILD_LOOKBACK).
	Lookback time.Duration
}

// Marker tells whether Redis still holds a complete schedule (store.Marker).
type Marker interface {
	Present(ctx context.Context) (bool, error)
	BeginRebuild(ctx context.Context) (store.Rebuild, error)
	FinishRebuild(ctx context.Context, r store.Rebuild) (bool, error)
}

// History replays what the broker holds (bus.Client).
type History interface {
	Replay(ctx context.Context, since time.Time, handle bus.Handler, subjects ...events.Subject) error
}

// Holds is where the expiry jobs live (store.Holds).
type Holds interface {
	Schedule(ctx context.Context, h expiry.Hold) error
}

// errLostAgain says Redis lost its data while a rebuild was writing to it.
var errLostAgain = errors.New("redis lost its data again while the schedule was rebuilt")

// Rebuilder watches the marker and rebuilds the schedule when it is missing.
type Rebuilder struct {
	marker  Marker
	history History
	holds   Holds
	log     *slog.Logger
	cfg     Config
}

// New returns a rebuilder; zero fields of cfg take the defaults.
func New(marker Marker, history History, holds Holds, logger *slog.Logger, cfg Config) *Rebuilder {
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.Lookback == 0 {
		cfg.Lookback = DefaultLookback
	}
	return &Rebuilder{marker: marker, history: history, holds: holds, log: logger.With("component", "rebuild"), cfg: cfg}
}

// Run checks the marker now and every check interval until ctx ends.
//
// It runs beside the listeners and the worker, never in their way: the
// replay reads over a connection of its own, and the holds it writes are the
// ones the listeners would write. An unreachable Redis is simply checked
// again at the next interval, with no back-off, so a Redis that comes back
// empty is noticed within one interval. A rebuild that fails (the broker is
// down, Redis refuses writes at maxmemory) is retried with back-off; the
// marker stays missing until one succeeds.
func (r *Rebuilder) Run(ctx context.Context) error {
	failures := 0
	unreachable := false
	for {
		wait := r.cfg.CheckInterval
		present, err := r.marker.Present(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if !unreachable {
				r.log.Warn("cannot check that Redis still holds the schedule; checking again every interval", "err", err)
			}
			unreachable = true
		case present:
			if unreachable {
				r.log.Info("Redis answers again and still holds the schedule")
			}
			unreachable, failures = false, 0
		default:
			unreachable = false
			if err := r.Rebuild(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				failures++
				wait = backoff(r.cfg.CheckInterval, failures)
				r.log.Error("rebuilding the schedule failed; retrying", "err", err, "failures", failures, "retry_in", wait)
			} else {
				failures = 0
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// backoff doubles the pause from one interval with each failure, up to maxBackoff.
func backoff(interval time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Rebuild schedules every open order in the replayed history and then writes
// the marker.
func (r *Rebuilder) Rebuild(ctx context.Context) error {
	began := time.Now()
	since := began.Add(-r.cfg.Lookback)
	r.log.Warn("Redis may not hold the whole schedule (its data was lost, it restarted, or it is new); rebuilding it from order events", "since", since)
	note, err := r.marker.BeginRebuild(ctx)
	if err != nil {
		return err
	}
	open, err := r.openOrders(ctx, since)
	if err != nil {
		return err
	}
	replayed := time.Since(began)
	if err := r.scheduleAll(ctx, open); err != nil {
		return err
	}
	done, err := r.marker.FinishRebuild(ctx, note)
	if err != nil {
		return err
	}
	if !done {
		return errLostAgain
	}
	r.log.Info("rebuilt the schedule", "open_orders", len(open), "replay_took", replayed, "took", time.Since(began))
	return nil
}

// openOrders returns the holds of the orders created since then and neither
// cancelled nor completed, the earliest deadline first.
func (r *Rebuilder) openOrders(ctx context.Context, since time.Time) ([]expiry.Hold, error) {
	created := map[string]expiry.Hold{}
	settled := map[string]bool{}
	err := r.history.Replay(ctx, since, func(_ context.Context, m bus.Message) error {
		id, hold, err := read(m)
		if err != nil {
			// The durable subscription parks such an event; no job came of it.
			r.log.Warn("rebuild skips an event it cannot read", "event_id", m.ID, "err", err)
			return nil
		}
		if m.Subject != events.SubjectOrderCreated {
			settled[id] = true
		} else if _, seen := created[id]; !seen {
			// The first schedule stands, as with a redelivered event.
			created[id] = hold
		}
		return nil
	}, events.SubjectOrderCreated, events.SubjectOrderCancelled, events.SubjectOrderCompleted)
	if err != nil {
		return nil, fmt.Errorf("replaying order events: %w", err)
	}
	open := make([]expiry.Hold, 0, len(created))
	for id, h := range created {
		if !settled[id] {
			open = append(open, h)
		}
	}
	slices.SortFunc(open, func(a, b expiry.Hold) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return open, nil
}

// read returns the order an event is about, and for order:created its hold.
func read(m bus.Message) (string, expiry.Hold, error) {
	switch m.Subject {
	case events.SubjectOrderCreated:
		e, err := events.Decode[events.OrderCreated](m.Envelope)
		if err != nil {
			return "", expiry.Hold{}, err
		}
		h, err := expiry.FromOrderCreated(e)
		h.Trace = m.Trace // the job rejoins the order's trace, as the first one did
		return h.OrderID, h, err
	case events.SubjectOrderCancelled:
		e, err := events.Decode[events.OrderCancelled](m.Envelope)
		return e.ID, expiry.Hold{}, err
	case events.SubjectOrderCompleted:
		e, err := events.Decode[events.OrderCompleted](m.Envelope)
		return e.ID, expiry.Hold{}, err
	}
	return "", expiry.Hold{}, fmt.Errorf("unexpected subject %s", m.Subject)
}

// scheduleAll writes the holds, a few at a time.
func (r *Rebuilder) scheduleAll(ctx context.Context, holds []expiry.Hold) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(scheduleConcurrency)
	for _, h := range holds {
		g.Go(func() error { return r.holds.Schedule(ctx, h) })
	}
	return g.Wait()
}
