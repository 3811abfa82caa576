// Package health serves /healthz (the process is alive) and /readyz (what the
// service needs to answer requests answers right now, and what it needs from
// them, such as its indexes, is in place). A dependency the service can do
// without for a while — the broker, for a service whose events wait in its
// outbox — is checked as well but only reported: its outage degrades the
// service without taking it out of its Service's endpoints.
package health

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
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

// Readiness runs every check and answers 200, or 503 naming what failed.
// Degrading checks run too; while one fails, the answer stays 200 and names it
// under "degraded" (a 503 names it beside what failed). The cause of a failure
// is logged, not returned.
func Readiness(logger *slog.Logger, checks, degrading map[string]Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), Timeout)
		defer cancel()
		failed := run(ctx, logger, checks)
		degraded := run(ctx, logger, degrading)
		switch {
		case len(failed) > 0:
			httpx.WriteJSON(w, http.StatusServiceUnavailable, errs.Body{Errors: append(failed, degraded...)})
		case len(degraded) > 0:
			httpx.WriteJSON(w, http.StatusOK, Degraded{Status: "degraded", Degraded: degraded})
		default:
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	}
}

// Degraded is the ready answer while a degrading check fails.
type Degraded struct {
	Status   string      `json:"status"`
	Degraded []errs.Item `json:"degraded"`
}

// run runs the checks in the order of their names and returns their failures.
func run(ctx context.Context, logger *slog.Logger, checks map[string]Check) []errs.Item {
	var failed []errs.Item
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		if err := checks[name](ctx); err != nil {
			logger.Warn("readiness check failed", "check", name, "err", err)
			failed = append(failed, errs.Item{Message: failure(name, err)})
		}
	}
	return failed
}

func failure(name string, err error) string {
	var notReady NotReady
	if errors.As(err, &notReady) {
		return string(notReady)
	}
	return name + " is not reachable"
}
