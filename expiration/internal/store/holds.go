// Package store keeps expiration's state: one delayed asynq job per open order,
// in Redis. Redis is the durable record of every hold, so what it keeps is
// what survives a restart (see the README for the persistence it needs).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/expiration/internal/expiry"
)

// Queue is the asynq queue the holds live in.
const Queue = "expiration"

const (
	// maxRetry bounds how often a due job whose event cannot be published is
	// tried again. With the worker's back-off (capped at 30 s) that is days of
	// broker outage; after it, asynq archives the job and the worker logs it.
	maxRetry = 10_000
	// retention keeps a fired job, and so its id, for a day: an order:created
	// redelivered after its hold lapsed finds the id taken and schedules nothing.
	retention = 24 * time.Hour
	// timeout bounds one run of the job (a publish waits at most a few seconds).
	timeout = 30 * time.Second
)

// Holds schedules and cancels the jobs.
type Holds struct {
	client    *asynq.Client
	inspector *asynq.Inspector
}

// New returns the holds over rdb; the caller closes it.
func New(rdb redis.UniversalClient) *Holds {
	return &Holds{client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb)}
}

// Schedule makes sure one job lapses h when it is due. Scheduling the same
// order again is a no-op: the order id is the job id. A deadline already past
// makes the job due at once.
func (s *Holds) Schedule(ctx context.Context, h expiry.Hold) error {
	task := asynq.NewTask(expiry.TaskType, h.Payload())
	_, err := s.client.EnqueueContext(ctx, task,
		asynq.TaskID(h.TaskID()),
		asynq.ProcessAt(h.DueAt()),
		asynq.Queue(Queue),
		asynq.MaxRetry(maxRetry),
		asynq.Retention(retention),
		asynq.Timeout(timeout),
	)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scheduling expiry of order %s: %w", h.OrderID, err)
	}
	return nil
}

// Cancel removes the order's pending job, if there is one. A job that is
// running or has run is left alone: orders ignores an expiry for an order that
// is already complete or cancelled, and a fired job's id stays reserved.
func (s *Holds) Cancel(_ context.Context, orderID string) error {
	state, found, err := s.State(orderID)
	if err != nil || !found || settled(state) {
		return err
	}
	err = s.inspector.DeleteTask(Queue, orderID)
	if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	// The job may have become due and started between the two calls.
	if state, found, stateErr := s.State(orderID); stateErr == nil && (!found || settled(state)) {
		return nil
	}
	return fmt.Errorf("cancelling expiry of order %s: %w", orderID, err)
}

func settled(s asynq.TaskState) bool {
	return s == asynq.TaskStateActive || s == asynq.TaskStateCompleted
}

// State reports where the order's job is (scheduled, pending, active, retry,
// archived or completed), and whether there is one.
func (s *Holds) State(orderID string) (asynq.TaskState, bool, error) {
	info, err := s.inspector.GetTaskInfo(Queue, orderID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("looking up expiry of order %s: %w", orderID, err)
	}
	return info.State, true, nil
}
