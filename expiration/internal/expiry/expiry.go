// Package expiry holds what a hold on an order is: the job that lapses it, the
// identity that makes scheduling it idempotent, and the event it ends in. It
// knows nothing of Redis or the broker.
package expiry

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
)

// TaskType names the delayed job that lapses an order.
const TaskType = "order:expire"

// ErrInvalid marks a hold or job that can never be acted on (no order id, no
// deadline); retrying it cannot help.
var ErrInvalid = errors.New("invalid hold")

// Hold is one open order waiting for its payment window to pass.
type Hold struct {
	OrderID   string
	ExpiresAt time.Time
	// Trace is the trace context of what scheduled the hold (the handling
	// of order:created): the job carries it, so its expiration:complete,
	// fifteen minutes later, continues the purchase's trace.
	Trace tracing.Carrier
}

// FromOrderCreated reads the hold an order:created event starts.
func FromOrderCreated(e events.OrderCreated) (Hold, error) {
	h := Hold{OrderID: e.ID, ExpiresAt: e.ExpiresAt}
	if h.OrderID == "" {
		return Hold{}, fmt.Errorf("%w: order:created without an order id", ErrInvalid)
	}
	if h.ExpiresAt.IsZero() {
		return Hold{}, fmt.Errorf("%w: order %s has no expiresAt", ErrInvalid, h.OrderID)
	}
	return h, nil
}

// TaskID is the job's id. It is the order id, so scheduling one order twice (a
// redelivered order:created) finds the job that is already there.
func (h Hold) TaskID() string { return h.OrderID }

// DueAt is the whole second the job becomes due: ExpiresAt rounded down.
// asynq keeps due times in whole seconds, so rounding up would lapse a hold
// up to a second late on top of the polling delay, and rounding down lets the
// job start up to a second early; the worker then waits out the remainder
// (Remaining), so a hold never lapses before its deadline.
func (h Hold) DueAt() time.Time { return h.ExpiresAt.Truncate(time.Second) }

// Remaining is how long before the deadline a job started at now is.
func (h Hold) Remaining(now time.Time) time.Duration { return max(h.ExpiresAt.Sub(now), 0) }

// payload is the job's data.
type payload struct {
	OrderID   string          `json:"orderId"`
	ExpiresAt time.Time       `json:"expiresAt"`
	Trace     tracing.Carrier `json:"trace,omitempty"`
}

// Payload encodes the job's data.
func (h Hold) Payload() []byte {
	b, _ := json.Marshal(payload{OrderID: h.OrderID, ExpiresAt: h.ExpiresAt, Trace: h.Trace}) // strings and a time always encode
	return b
}

// FromPayload reads the hold back from a job's data.
func FromPayload(b []byte) (Hold, error) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Hold{}, fmt.Errorf("%w: job payload: %v", ErrInvalid, err)
	}
	if p.OrderID == "" {
		return Hold{}, fmt.Errorf("%w: job payload without an order id", ErrInvalid)
	}
	return Hold{OrderID: p.OrderID, ExpiresAt: p.ExpiresAt, Trace: p.Trace}, nil
}

// Expired is the event that ends a hold. Its envelope id is derived from the
// order, so a job that runs twice (it is retried until the broker acks)
// announces the same event twice, which consumers recognise as one.
func Expired(orderID string) (events.Envelope, error) {
	env, err := events.New(events.ExpirationComplete{OrderID: orderID})
	if err != nil {
		return events.Envelope{}, err
	}
	env.ID = "expiration-" + orderID
	return env, nil
}
