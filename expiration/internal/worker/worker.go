// Package worker runs the holds that come due: an in-process asynq server that
// announces expiration:complete for each.
//
// No outbox is needed here. The job itself is the durable record: asynq removes
// it from the queue only after the handler returned nil, which happens only
// after the broker acked the event. A broker outage makes the handler fail and
// asynq retry it with back-off; a crash mid-run leaves the job to asynq's
// recoverer, which runs it again. So the event is published at least once,
// and orders treats a repeated expiry as one.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/tracing"
	"ticketing.dev/expiration/internal/expiry"
	"ticketing.dev/expiration/internal/store"
)

// Publisher is the broker connection (bus.Client).
type Publisher interface {
	Publish(ctx context.Context, e events.Envelope) error
	WaitConnected(ctx context.Context) error
}

// DefaultCheckInterval is the CheckInterval of a Config that leaves it zero.
// (asynq's own default, 5 s, would lapse holds up to 6 s late.)
const DefaultCheckInterval = time.Second

// Config tunes the worker.
type Config struct {
	// CheckInterval is how often asynq looks for jobs that came due (its
	// DelayedTaskCheckInterval), and so the bound on how late a hold lapses.
	CheckInterval time.Duration
	// Concurrency is how many due jobs run at once. A job may wait up to a
	// second for its deadline before it publishes, so this is also how many
	// holds can lapse within one second without any of them being late.
	Concurrency int
	// Metrics counts the holds lapsed and how late; nil counts nothing.
	Metrics *metrics.Set
	// Tracing records a span per job run, continuing the trace of what
	// scheduled it; nil records none.
	Tracing *tracing.Tracing
}

// connectWait is how long a due job waits for a broker connection (after a
// restart it is still being made) before failing and being retried.
const connectWait = 5 * time.Second

// Worker runs due jobs.
type Worker struct {
	srv     *asynq.Server
	pub     Publisher
	log     *slog.Logger
	metrics *metrics.Set
	tracer  trace.Tracer
}

// New returns a worker over rdb (the caller closes it) publishing through pub.
func New(rdb redis.UniversalClient, pub Publisher, logger *slog.Logger, cfg Config) *Worker {
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 50
	}
	log := logger.With("component", "worker")
	w := &Worker{pub: pub, log: log, metrics: cfg.Metrics, tracer: cfg.Tracing.Tracer()}
	w.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: cfg.Concurrency,
		Queues:      map[string]int{store.Queue: 1},
		// A due job moves from "scheduled" to "pending" at the next delayed
		// check, and an idle processor looks for pending jobs every
		// TaskCheckInterval (half to one and a half of it, with jitter):
		// lateness is bounded by about CheckInterval*1.3. Polling an idle
		// queue five times a second costs Redis next to nothing.
		DelayedTaskCheckInterval: cfg.CheckInterval,
		TaskCheckInterval:        max(cfg.CheckInterval/5, 10*time.Millisecond),
		RetryDelayFunc:           retryDelay,
		ErrorHandler:             asynq.ErrorHandlerFunc(w.failed),
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		ShutdownTimeout:          8 * time.Second,
	})
	return w
}

// Run processes due jobs until ctx ends, then finishes the running ones.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.srv.Start(asynq.HandlerFunc(w.Fire)); err != nil {
		return fmt.Errorf("starting expiration worker: %w", err)
	}
	<-ctx.Done()
	w.srv.Shutdown()
	return nil
}

// Fire announces that the job's order has expired, under a span that
// continues the trace the job carries. An error makes asynq run the job
// again later.
func (w *Worker) Fire(ctx context.Context, t *asynq.Task) (err error) {
	hold, err := expiry.FromPayload(t.Payload())
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	ctx, span := w.tracer.Start(tracing.Extract(ctx, hold.Trace), "fire "+expiry.TaskType,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.String("ticketing.order.id", hold.OrderID)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	// asynq may start the job up to a second early (see expiry.Hold.DueAt).
	if wait := hold.Remaining(time.Now()); wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	env, err := expiry.Expired(hold.OrderID)
	if err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	waitCtx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	if err := w.pub.WaitConnected(waitCtx); err != nil {
		return err
	}
	if err := w.pub.Publish(ctx, env); err != nil {
		return err
	}
	late := time.Since(hold.ExpiresAt)
	w.metrics.HoldLapsed(metrics.LapsedByExpiration, late)
	w.log.InfoContext(ctx, "order expired", "order_id", hold.OrderID, "late_by", late)
	return nil
}

func (w *Worker) failed(ctx context.Context, t *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	log := w.log.With("payload", string(t.Payload()), "retried", retried, "err", err)
	if retried >= maxRetry || errors.Is(err, asynq.SkipRetry) {
		log.Error("expiry job gave up; it is archived in Redis and its order will not lapse by itself")
		return
	}
	log.Warn("expiry job failed; it will be retried")
}

// retryDelay backs off from half a second to at most 30 seconds.
func retryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := 500 * time.Millisecond
	for i := 0; i < n && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// asynqLogger writes asynq's own messages through slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }

// Fatal honours asynq's Logger contract (log, then exit 1); asynq itself does
// not call it.
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...))
	os.Exit(1)
}
