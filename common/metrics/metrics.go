// Package metrics is what every service counts for Prometheus, served on
// /metrics: requests by route, the bus's events, the outbox's backlog, the
// flows of the marketplace (reservations, lapsed holds, payments), and the Go
// runtime. common/service builds one Set per service and hands it to the
// router, the bus and the relay; a service's Wire reaches it as Deps.Metrics
// for its own flows.
//
// Every label takes its values from a set the code fixes (a route pattern, a
// subject, an outcome): never an id, an email or a token, so the number of
// series stays what the code says, whatever the traffic.
//
// A nil *Set counts nothing and serves nothing: METRICS=off.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"ticketing.dev/common/bus"
)

// Path is where a service serves its metrics. Neither the gateway nor the
// ingress routes it: only the scraper, inside, reads it.
const Path = "/metrics"

// The names of every metric the services export (Go runtime and process
// collectors aside). Dashboards and alerts may name only these; the manifests
// validator checks that (Names).
const (
	HTTPRequests        = "http_requests_total"
	HTTPRequestDuration = "http_request_duration_seconds"
	EventsPublished     = "events_published_total"
	EventsHandled       = "events_handled_total"
	EventsRedelivered   = "events_redelivered_total"
	EventsParked        = "events_parked_total"
	OutboxPending       = "outbox_pending_events"
	OutboxOldestAge     = "outbox_oldest_pending_age_seconds"
	OutboxScrapeErrors  = "outbox_scrape_errors_total"
	ReservationsWon     = "reservations_won_total"
	ReservationsRefused = "reservations_refused_total"
	HoldsLapsed         = "holds_lapsed_total"
	HoldLapseLateness   = "hold_lapse_lateness_seconds"
	PaymentsTotal       = "payments_total"
	RedisMemoryUsed     = "redis_memory_used_bytes"
	RedisMemoryMax      = "redis_memory_max_bytes"
	RedisScrapeErrors   = "redis_memory_scrape_errors_total"
	runtimePrefix       = "go_"
	processPrefix       = "process_"
	unmatchedRoute      = "unmatched"
	otherMethod         = "OTHER"
	scrapeDeadline      = 2 * time.Second
)

// Names lists the metrics Set exports beyond the runtime's; the runtime's
// and the process's start with Prefixes.
func Names() []string {
	return []string{
		HTTPRequests, HTTPRequestDuration, EventsPublished, EventsHandled, EventsRedelivered, EventsParked,
		OutboxPending, OutboxOldestAge, OutboxScrapeErrors, ReservationsWon, ReservationsRefused,
		HoldsLapsed, HoldLapseLateness, PaymentsTotal, RedisMemoryUsed, RedisMemoryMax, RedisScrapeErrors,
	}
}

// Prefixes are the name prefixes of the Go runtime's and the process's metrics.
func Prefixes() []string { return []string{runtimePrefix, processPrefix} }

// Set is one service's metrics.
type Set struct {
	reg     *prometheus.Registry
	wrapped wrapped

	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec

	published, handled, redelivered, parked *prometheus.CounterVec

	reservationsWon     prometheus.Counter
	reservationsRefused *prometheus.CounterVec
	holdsLapsed         *prometheus.CounterVec
	lapseLateness       *prometheus.HistogramVec
	payments            *prometheus.CounterVec
	outboxErrors        prometheus.Counter
}

// New returns a Set for service; every metric carries the service's name
// as the constant label service.
func New(service string) *Set {
	reg := prometheus.NewRegistry()
	f := wrapped{prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)}
	f.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Set{
		reg:     reg,
		wrapped: f,
		requests: f.counters(HTTPRequests, "HTTP requests answered, by route pattern, method and status.",
			"route", "method", "status"),
		durations: f.histograms(HTTPRequestDuration, "How long HTTP requests took, by route pattern and method.",
			prometheus.DefBuckets, "route", "method"),
		published:   f.counters(EventsPublished, "Events the broker acked a publish of, by subject.", "subject"),
		handled:     f.counters(EventsHandled, "Events handled and acked, by subject.", "subject"),
		redelivered: f.counters(EventsRedelivered, "Deliveries of an event that was delivered before, by subject.", "subject"),
		parked:      f.counters(EventsParked, "Events parked after failing for good, by subject.", "subject"),
		reservationsWon: f.counter(ReservationsWon,
			"Reservations that won their ticket (a buyer's retry of a reservation they hold is not counted)."),
		reservationsRefused: f.counters(ReservationsRefused, "Reservations refused, by reason.", "reason"),
		holdsLapsed:         f.counters(HoldsLapsed, "Holds lapsed, by who lapsed them.", "by"),
		lapseLateness: f.histograms(HoldLapseLateness, "How long after its expiry a hold lapsed, by who lapsed it.",
			[]float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300}, "by"),
		payments:     f.counters(PaymentsTotal, "Payment attempts, by outcome.", "outcome"),
		outboxErrors: f.counter(OutboxScrapeErrors, "Scrapes that could not read the outbox backlog."),
	}
}

// wrapped registers with the service's label.
type wrapped struct{ prometheus.Registerer }

func (w wrapped) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	w.MustRegister(c)
	return c
}

func (w wrapped) counters(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	w.MustRegister(c)
	return c
}

func (w wrapped) histograms(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	w.MustRegister(h)
	return h
}

// Handler serves the metrics in Prometheus's text format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// Middleware is the middleware that counts requests, outermost, so it sees
// what the recoverer made of a panic; none when s is nil.
func (s *Set) Middleware() []func(http.Handler) http.Handler {
	if s == nil {
		return nil
	}
	return []func(http.Handler) http.Handler{s.countRequests}
}

// Serve adds GET /metrics to r; nothing when s is nil, so /metrics is then
// the common 404.
func (s *Set) Serve(r chi.Router) {
	if s != nil {
		r.Method(http.MethodGet, Path, s.Handler())
	}
}

// Observer is what the bus tells of events: s, or nobody when s is nil.
func (s *Set) Observer() bus.Observer {
	if s == nil {
		return nil
	}
	return s
}

// countRequests counts a request under the pattern of the route that served
// it, known only once routing is done: never the raw path, which carries ids.
func (s *Set) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := unmatchedRoute
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" && sw.matched(rc) {
			route = rc.RoutePattern()
		}
		method := boundedMethod(r.Method)
		s.requests.WithLabelValues(route, method, strconv.Itoa(sw.status)).Inc()
		s.durations.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// boundedMethod keeps a client's invented methods out of the labels.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return otherMethod
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// matched tells a route's pattern from what chi leaves for a request no route
// took: a mounted subrouter's "/api/orders/*" with nothing matched under it
// says nothing about which route, and an unknown path is not a route.
func (w *statusWriter) matched(rc *chi.Context) bool {
	p := rc.RoutePattern()
	return !(len(p) > 0 && p[len(p)-1] == '*' && w.status == http.StatusNotFound)
}

// Published counts an event the broker acked (bus.Observer).
func (s *Set) Published(subject string) {
	if s != nil {
		s.published.WithLabelValues(subject).Inc()
	}
}

// Handled counts an event handled and acked (bus.Observer).
func (s *Set) Handled(subject string) {
	if s != nil {
		s.handled.WithLabelValues(subject).Inc()
	}
}

// Redelivered counts a delivery of an event delivered before (bus.Observer).
func (s *Set) Redelivered(subject string) {
	if s != nil {
		s.redelivered.WithLabelValues(subject).Inc()
	}
}

// Parked counts an event parked (bus.Observer).
func (s *Set) Parked(subject string) {
	if s != nil {
		s.parked.WithLabelValues(subject).Inc()
	}
}

// Reserved counts a reservation: won, or refused for refusal (a Refused
// constant); neither (a buyer's retry of what they hold, an outage) counts
// nothing.
func (s *Set) Reserved(won bool, refusal string) {
	switch {
	case s == nil:
	case won:
		s.reservationsWon.Inc()
	case refusal != "":
		s.reservationsRefused.WithLabelValues(refusal).Inc()
	}
}

// The reasons a reservation is refused.
const (
	RefusedReserved     = "reserved"
	RefusedSold         = "sold"
	RefusedTooManyOpen  = "too_many_open"
	RefusedNotFound     = "not_found"
	RefusedOwnTicket    = "own_ticket"
	LapsedByExpiration  = "expiration"
	LapsedByOrdersSweep = "orders_sweep"
)

// HoldLapsed counts a hold lapsed by by (a LapsedBy constant), late by
// lateness after its expiry.
func (s *Set) HoldLapsed(by string, lateness time.Duration) {
	if s != nil {
		s.holdsLapsed.WithLabelValues(by).Inc()
		s.lapseLateness.WithLabelValues(by).Observe(max(lateness, 0).Seconds())
	}
}

// The outcomes of a payment attempt.
const (
	PaymentSucceeded = "succeeded"
	PaymentPending   = "pending" // 202: the buyer acts (3-D Secure) or a webhook settles it
	PaymentDeclined  = "declined"
	PaymentRejected  = "rejected"
	PaymentRefused   = "refused" // the order's state refused it
	PaymentLate      = "late"    // the order was cancelled while it was paid: refunded
	PaymentFailed    = "failed"  // an outage or a bug: the buyer may retry
)

// Payment counts a payment attempt with outcome, a Payment constant.
func (s *Set) Payment(outcome string) {
	if s != nil {
		s.payments.WithLabelValues(outcome).Inc()
	}
}

// Backlog reads an outbox's backlog: how many events wait and when the
// oldest of them occurred (zero if none).
type Backlog func(ctx context.Context) (pending int, oldest time.Time, err error)

// WatchOutbox reads read at every scrape, bounded by a deadline so a slow
// database never stalls the scrape; a failed read is counted, not exposed as
// a made-up zero.
func (s *Set) WatchOutbox(read Backlog) {
	if s == nil {
		return
	}
	s.wrapped.MustRegister(&scrapedGauges{errors: s.outboxErrors,
		descs: []*prometheus.Desc{
			prometheus.NewDesc(OutboxPending, "Events stored in an outbox and not yet published.", nil, nil),
			prometheus.NewDesc(OutboxOldestAge, "How long ago the oldest unpublished event occurred; 0 when none waits.",
				nil, nil),
		},
		read: func(ctx context.Context) ([]float64, error) {
			n, oldest, err := read(ctx)
			age := 0.0
			if n > 0 && !oldest.IsZero() {
				age = max(time.Since(oldest).Seconds(), 0)
			}
			return []float64{float64(n), age}, err
		},
	})
}

// RedisMemory reads a Redis's INFO memory: the bytes it uses (used_memory)
// and its cap (maxmemory; 0 when it has none).
type RedisMemory func(ctx context.Context) (used, limit int64, err error)

// WatchRedisMemory exports the memory of the Redis read reads, at every
// scrape and bounded by the same deadline as the outbox's: a Redis that is
// away or slow leaves both gauges absent for that scrape (Prometheus marks
// the series stale; no last value is repeated as if it were current) and
// counts an error. Call it once per Set.
func (s *Set) WatchRedisMemory(read RedisMemory) {
	if s == nil {
		return
	}
	s.wrapped.MustRegister(&scrapedGauges{
		errors: s.wrapped.counter(RedisScrapeErrors, "Scrapes that could not read Redis's memory."),
		descs: []*prometheus.Desc{
			prometheus.NewDesc(RedisMemoryUsed, "Bytes the service's Redis uses (INFO memory used_memory).", nil, nil),
			prometheus.NewDesc(RedisMemoryMax, "The service's Redis's maxmemory in bytes; 0 when it has no cap.", nil, nil),
		},
		read: func(ctx context.Context) ([]float64, error) {
			used, limit, err := read(ctx)
			return []float64{float64(used), float64(limit)}, err
		},
	})
}

// scrapedGauges are gauges read at every scrape, one value per desc, within
// scrapeDeadline; a failed read exposes none of them and counts an error.
type scrapedGauges struct {
	read   func(ctx context.Context) ([]float64, error)
	errors prometheus.Counter
	descs  []*prometheus.Desc
}

func (c *scrapedGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *scrapedGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeDeadline)
	defer cancel()
	values, err := c.read(ctx)
	if err != nil {
		c.errors.Inc()
		return
	}
	for i, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, values[i])
	}
}
