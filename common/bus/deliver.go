package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/tracing"
)

// Unavailable reports whether err means that something the handler needs could
// not be reached or did not answer in time: ErrUnavailable, a deadline (the
// attempt's own included), any network error, or a connection closed under a
// read. Such an error is retried and never parked. Config.Transient adds the
// errors of particular stores.
func Unavailable(err error) bool {
	var netErr net.Error // context.DeadlineExceeded is one too
	return errors.Is(err, ErrUnavailable) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// failure is what a handler's error means for its message.
type failure int

const (
	failGap       failure = iota // ErrNotYet
	failTransient                // an outage: retried, never parked
	failPermanent                // counts toward parking
)

func (f failure) String() string {
	return [...]string{"version gap", "unavailable", "failed"}[f]
}

func (c *Client) classify(err error) failure {
	switch {
	case errors.Is(err, ErrNotYet):
		return failGap
	case Unavailable(err), c.cfg.Transient != nil && c.cfg.Transient(err):
		return failTransient
	}
	return failPermanent
}

// Back-off of in-process retries: from firstRetry, doubling, capped.
const (
	firstRetry = 5 * time.Millisecond
	maxRetry   = time.Second
)

// msgKey names one message of one subscription across its redeliveries.
type msgKey struct {
	queue   string
	subject events.Subject
	seq     uint64
}

// tracked is what the client remembers of a message between its deliveries.
type tracked struct {
	eventID  string
	running  bool
	lastSeen time.Time
	ackWait  time.Duration
	// failures counts permanent failures, toward MaxDeliveries.
	failures int
	// since is the first failure of any kind; zero while none.
	since     time.Time
	lastAlert time.Time
	kind      failure
	reason    string
}

// Stuck is a message that has been failing for longer than Config.StuckAfter.
type Stuck struct {
	Queue    string
	Subject  events.Subject
	Sequence uint64
	EventID  string
	// Gap is true while it waits for an event it depends on (ErrNotYet).
	Gap    bool
	Since  time.Time
	Reason string
}

// Stats counts what the client's subscriptions did since it started.
type Stats struct {
	// Acked counts messages handled and acked; Parked, those parked.
	Acked  int
	Parked int
	// RedeliveredWhileRunning counts deliveries of a message whose handler was
	// still running here (dropped). AckWait is sized so that it stays zero.
	RedeliveredWhileRunning int
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Stuck lists the messages that have been failing for longer than
// Config.StuckAfter and are not done yet, oldest first: a version gap whose
// event never came (it may be parked), or an outage that long.
func (c *Client) Stuck() []Stuck {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Stuck
	now := time.Now()
	c.sweep(now)
	for k, t := range c.tracked {
		if !t.since.IsZero() && now.Sub(t.since) >= c.cfg.StuckAfter {
			out = append(out, Stuck{Queue: k.queue, Subject: k.subject, Sequence: k.seq, EventID: t.eventID,
				Gap: t.kind == failGap, Since: t.since, Reason: t.reason})
		}
	}
	slices.SortFunc(out, func(a, b Stuck) int { return a.Since.Compare(b.Since) })
	return out
}

// deliver is a transport's callback: it starts the message's handling and returns, so
// the subscription's other messages start too (up to MaxInflight).
func (c *Client) deliver(s *Subscription, m delivery) {
	received := time.Now()
	key := msgKey{queue: s.Queue, subject: s.Subject, seq: m.seq}
	c.mu.Lock()
	if c.closing {
		// Not acked: the broker hands it to the next member of the group.
		c.mu.Unlock()
		return
	}
	c.sweep(received)
	t := c.tracked[key]
	if t != nil && t.running {
		c.stats.RedeliveredWhileRunning++
		c.mu.Unlock()
		// The running handler acks it (acks go by sequence) or lets it go.
		c.log.Warn("message redelivered while its handler runs; dropped", "subject", s.Subject, "queue", s.Queue, "seq", m.seq)
		return
	}
	if t == nil {
		t = &tracked{ackWait: s.AckWait}
		c.tracked[key] = t
	}
	t.running, t.lastSeen = true, received
	c.handlers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.handlers.Done()
		done := c.run(s, m, key, received)
		c.mu.Lock()
		defer c.mu.Unlock()
		if done {
			delete(c.tracked, key)
		} else {
			t.running, t.lastSeen = false, time.Now()
		}
	}()
}

// sweep forgets messages not seen for three of their AckWaits: another member
// of the group has them, or acked them. c.mu is held.
func (c *Client) sweep(now time.Time) {
	if now.Sub(c.lastSweep) < time.Second {
		return
	}
	c.lastSweep = now
	for k, t := range c.tracked {
		if !t.running && now.Sub(t.lastSeen) > 3*t.ackWait {
			delete(c.tracked, k)
		}
	}
}

// run handles one delivery of m, retrying gaps and outages while the hold
// lasts, under a span that continues the publisher's trace. It reports
// whether the message is done with (acked or parked).
func (c *Client) run(s *Subscription, m delivery, key msgKey, received time.Time) bool {
	log := c.log.With("subject", s.Subject, "queue", s.Queue, "seq", m.seq)
	if m.deliveries > 1 {
		c.cfg.observer().Redelivered(string(s.Subject))
	}
	env, err := decodeEnvelope(m.data, s.Subject)
	if err != nil {
		return c.park(log, s, m, "malformed envelope: "+err.Error())
	}
	msg := Message{Envelope: env, Deliveries: m.deliveries, Sequence: m.seq}
	ctx, span := c.startHandling(s, msg)
	log = log.With("event_id", env.ID, "deliveries", msg.Deliveries).With(tracing.LogAttrs(ctx)...)
	done, err := c.handle(ctx, log, s, m, key, msg, received)
	endHandling(span, done, err)
	return done
}

// handle runs the attempts of one delivery. It reports whether the message
// is done with, and the last error if an attempt failed (the reason a parked
// message was parked).
func (c *Client) handle(ctx context.Context, log *slog.Logger, s *Subscription, m delivery, key msgKey, msg Message, received time.Time) (bool, error) {
	// Everything is over before the broker's AckWait, leaving a quarter of
	// it for the ack to get there.
	holdUntil := received.Add(s.AckWait - s.AckWait/4)
	wait := firstRetry
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, s, msg, holdUntil)
		if err == nil {
			c.acked(log, s, m)
			return true, nil
		}
		if c.handlerCtx.Err() != nil {
			return false, err // Close gave up waiting; the next process takes over
		}
		kind := c.classify(err)
		failures := c.failed(key, msg.ID, kind, err, log)
		if kind == failPermanent {
			if failures >= s.MaxDeliveries {
				return c.park(log, s, m, err.Error()), err
			}
			log.Warn("handler failed; the event will be redelivered", "err", err, "failures", failures)
			return false, err
		}
		// Jitter keeps the messages of one outage from retrying in lockstep.
		pause := wait/2 + rand.N(wait/2+1)
		if time.Now().Add(pause).After(holdUntil) {
			log.Info("event not done yet; it will be redelivered", "why", kind.String(), "err", err, "attempts", attempt)
			return false, err
		}
		log.Debug("retrying", "why", kind.String(), "err", err, "attempt", attempt, "pause", pause)
		select {
		case <-c.stop:
			return false, err
		case <-time.After(pause):
		}
		wait = min(2*wait, maxRetry)
	}
}

// acked acks a message its handler applied.
func (c *Client) acked(log *slog.Logger, s *Subscription, m delivery) {
	if ackErr := m.ack(); ackErr != nil {
		// The effect is stored; a redelivery will be recognised as such.
		log.Warn("ack failed; the event will be redelivered", "err", ackErr)
		return
	}
	c.mu.Lock()
	c.stats.Acked++
	c.mu.Unlock()
	c.cfg.observer().Handled(string(s.Subject))
}

// failed records a failure of the message and returns how many permanent
// ones it has had; it raises the alert for one failing for too long.
func (c *Client) failed(key msgKey, eventID string, kind failure, err error, log *slog.Logger) int {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tracked[key]
	if t.since.IsZero() {
		t.since = now
	}
	t.eventID, t.kind, t.reason = eventID, kind, err.Error()
	if kind == failPermanent {
		t.failures++
	}
	if waited := now.Sub(t.since); waited >= c.cfg.StuckAfter && now.Sub(t.lastAlert) >= c.cfg.StuckAfter {
		t.lastAlert = now
		log.Error("event stuck: still not applied", "why", kind.String(), "waited", waited.Round(time.Second), "err", err)
	}
	return t.failures
}

// attempt calls the handler once, with a deadline, turning a panic into an
// error. An attempt that ran out of time failed for want of time, whatever
// the handler says: it counts as an outage.
func (c *Client) attempt(ctx context.Context, s *Subscription, msg Message, holdUntil time.Time) (err error) {
	deadline := time.Now().Add(s.AttemptTimeout)
	if deadline.After(holdUntil) {
		deadline = holdUntil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
			return
		}
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: past the attempt's deadline: %w", ErrUnavailable, err)
		}
	}()
	return s.Handler(ctx, msg)
}

// decodeEnvelope reads a message's envelope and says what is wrong with one
// that no handler could apply.
func decodeEnvelope(data []byte, subject events.Subject) (events.Envelope, error) {
	var env events.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return env, err
	}
	if env.ID == "" {
		return env, errors.New("no event id")
	}
	if env.Subject != subject {
		return env, fmt.Errorf("subject %q on channel %q", env.Subject, subject)
	}
	return env, nil
}

// park moves m to the queue's parked channel and acks it; it reports whether
// that worked (if not, the message comes back and is parked then).
func (c *Client) park(log *slog.Logger, s *Subscription, m delivery, reason string) bool {
	raw := json.RawMessage(m.data)
	if !json.Valid(m.data) {
		raw, _ = json.Marshal(string(m.data))
	}
	record, err := json.Marshal(Parked{Queue: s.Queue, Subject: string(s.Subject), Reason: reason, ParkedAt: time.Now().UTC(), Message: raw})
	if err == nil {
		// One delivery parks one record, however often it is tried.
		err = c.publishRaw(context.Background(), ParkedChannel(s.Queue), record, fmt.Sprintf("park:%s:%s:%d", s.Queue, s.Subject, m.seq))
	}
	if err != nil {
		log.Error("parking a poison message failed; it will be redelivered", "reason", reason, "err", err)
		return false
	}
	log.Error("parked a message that keeps failing", "reason", reason, "channel", ParkedChannel(s.Queue))
	if err := m.ack(); err != nil {
		log.Warn("ack of parked message failed", "err", err)
	}
	c.mu.Lock()
	c.stats.Parked++
	c.mu.Unlock()
	c.cfg.observer().Parked(string(s.Subject))
	return true
}

// On subscribes queue to the subject of T, with a handler that receives the
// payload already decoded. The subject comes from the payload type, so a
// handler cannot be wired to the wrong channel; a payload that does not decode
// is a permanent failure (redelivered, then parked).
func On[T events.Payload](queue string, handle func(ctx context.Context, p T) error, opts ...Option) Subscription {
	var zero T
	s := Subscription{
		Subject: zero.Subject(),
		Queue:   queue,
		Handler: func(ctx context.Context, m Message) error {
			p, err := events.Decode[T](m.Envelope)
			if err != nil {
				return err
			}
			return handle(ctx, p)
		},
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}
