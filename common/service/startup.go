package service

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"ticketing.dev/common/health"
)

// retry is how a start-up step is tried again: from first, doubling up to
// max, so that once what it waits for answers it follows within seconds,
// and something that stays away costs a log line per try.
type retry struct{ first, max time.Duration }

// startupStep has step run in the background once Serve runs, tried again
// after retry until it succeeds. Until then /readyz answers 503 naming
// notReady under check, and Kubernetes sends the pod no requests. Each
// failure is logged as failed, at level(err): a store's outage is a warning,
// a conflict that needs an operator an error. Call it before Router.
func (d *Deps) startupStep(check, notReady, failed string, r retry, level func(error) slog.Level, step func(context.Context) error) {
	var done atomic.Bool
	if d.Checks == nil {
		d.Checks = map[string]health.Check{}
	}
	d.Checks[check] = func(context.Context) error {
		if done.Load() {
			return nil
		}
		return health.NotReady(notReady)
	}
	d.background = append(d.background, func(ctx context.Context) error {
		pause := r.first
		for {
			err := step(ctx)
			if err == nil {
				done.Store(true)
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			d.Logger.Log(ctx, level(err), failed, "err", err, "in", pause)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			pause = min(2*pause, r.max)
		}
	})
}
