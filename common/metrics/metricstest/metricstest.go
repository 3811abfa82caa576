// Package metricstest reads a service's /metrics over HTTP, as Prometheus
// does, for tests that count what a sequence of actions did, and checks that
// every label a service exposes takes its value from a bounded set.
package metricstest

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
)

// Samples are one scrape, by metric family name.
type Samples map[string]*dto.MetricFamily

// Read scrapes the service api talks to.
func Read(t testing.TB, api *apitest.Client) Samples {
	t.Helper()
	res := api.Do(http.MethodGet, metrics.Path, nil)
	require.Equal(t, http.StatusOK, res.Status, "GET %s", metrics.Path)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(res.Raw))
	require.NoError(t, err)
	return families
}

// Value sums the samples of name whose labels include labels (name, value
// pairs): a counter's or gauge's value, a histogram's count. 0 when none.
func (s Samples) Value(name string, labels ...string) float64 {
	f, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// Has reports whether name has a sample whose labels include labels.
func (s Samples) Has(name string, labels ...string) bool {
	f, ok := s[name]
	if !ok {
		return false
	}
	return slices.ContainsFunc(f.GetMetric(), func(m *dto.Metric) bool { return hasLabels(m, labels) })
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}) {
			return false
		}
	}
	return true
}

// Bounded is every value each label of Set's own metrics may take, but for
// route, whose values are the service's route patterns (Routes).
func Bounded() map[string][]string {
	var subjects []string
	for _, s := range []events.Subject{events.SubjectUserCreated, events.SubjectTicketCreated, events.SubjectTicketUpdated,
		events.SubjectOrderCreated, events.SubjectOrderCancelled, events.SubjectOrderCompleted,
		events.SubjectExpirationComplete, events.SubjectPaymentCreated, events.SubjectSessionRevoked} {
		subjects = append(subjects, string(s))
	}
	return map[string][]string{
		"service": {"auth", "tickets", "orders", "expiration", "payments", "demo"},
		"method":  {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"},
		"subject": subjects,
		"reason": {metrics.RefusedReserved, metrics.RefusedSold, metrics.RefusedTooManyOpen,
			metrics.RefusedNotFound, metrics.RefusedOwnTicket},
		"by": {metrics.LapsedByExpiration, metrics.LapsedByOrdersSweep},
		"outcome": {metrics.PaymentSucceeded, metrics.PaymentPending, metrics.PaymentDeclined, metrics.PaymentRejected,
			metrics.PaymentRefused, metrics.PaymentLate, metrics.PaymentFailed},
		"le": nil, // a histogram's buckets: fixed by the code, numbers
	}
}

var (
	statusCode = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	bucket     = regexp.MustCompile(`^([0-9.e+-]+|\+Inf)$`)
	// A route pattern is chi's: literal segments and {parameters}, never a
	// value (an id, 24 hex digits, or anything with an @).
	routePattern = regexp.MustCompile(`^(/([a-z-]*|\{[a-zA-Z]+\}|\*))+$`)
	looksLikeID  = regexp.MustCompile(`[0-9a-f]{12,}|@|[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}`)
)

// RequireBounded fails unless every label of every sample takes a value from
// its bounded set, routes are patterns from routes (or "unmatched"), and no
// value anywhere (the runtime's included) carries any of secrets or looks
// like an id, an email or a token.
func RequireBounded(t testing.TB, s Samples, routes []string, secrets ...string) {
	t.Helper()
	bounded := Bounded()
	for name, f := range s {
		own := slices.Contains(metrics.Names(), name)
		if !own {
			require.True(t, slices.ContainsFunc(metrics.Prefixes(), func(p string) bool { return strings.HasPrefix(name, p) }),
				"%s is neither one of metrics.Names nor the runtime's", name)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				name, value := l.GetName(), l.GetValue()
				for _, secret := range secrets {
					require.NotContains(t, value, secret, "label %s of %s", name, f.GetName())
				}
				if !own {
					require.NotRegexp(t, looksLikeID, value, "label %s of %s", name, f.GetName())
					continue
				}
				switch name {
				case "status":
					require.Regexp(t, statusCode, value)
				case "le":
					require.Regexp(t, bucket, value)
				case "route":
					if value == "unmatched" {
						continue
					}
					require.Contains(t, routes, value, "route of %s is one of the service's patterns", f.GetName())
					require.Regexp(t, routePattern, value)
				default:
					allowed, known := bounded[name]
					require.True(t, known, "label %s of %s has no bounded set", name, f.GetName())
					require.Contains(t, allowed, value, "label %s of %s", name, f.GetName())
				}
			}
		}
	}
}
