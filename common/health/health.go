// Package health serves /healthz (the process is alive) and /readyz (its
// database and broker answer right now, and what it needs from them, such as
// its indexes, is in place).
package health

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// NotReady is a check's failure that is not an outage: what the service needs
// is on its way (indexes being created). Readiness shows its text as it is,
// where any other failure reads "<check> is not reachable".
type NotReady string

func (e NotReady) Error() string { return string(e) }

// Timeout bounds each readiness check, so a hung dependency fails the probe
// instead of hanging it.
const Timeout = 2 * time.Second

// Liveness answers 200 while the process serves HTTP at all.
func Liveness(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readiness runs every check and answers 200, or 503 naming what failed. The
// cause of a failure is logged, not returned.
func Readiness(logger *slog.Logger, checks map[string]Check) http.HandlerFunc {
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), Timeout)
		defer cancel()
		var failed []errs.Item
		for _, name := range names {
			if err := checks[name](ctx); err != nil {
				logger.Warn("readiness check failed", "check", name, "err", err)
				failed = append(failed, errs.Item{Message: failure(name, err)})
			}
		}
		if len(failed) > 0 {
			httpx.WriteJSON(w, http.StatusServiceUnavailable, errs.Body{Errors: failed})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

func failure(name string, err error) string {
	var notReady NotReady
	if errors.As(err, &notReady) {
		return string(notReady)
	}
	return name + " is not reachable"
}
