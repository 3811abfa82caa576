package bus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"

	"ticketing.dev/common/events"
)

// Replay reads history: the messages a channel already holds. A consumer that
// keeps derived state outside the broker (expiration's schedule in Redis) uses
// it to rebuild that state when the state is lost, since the durable queue
// groups have long acked what it was built from.
//
// It reads over a connection of its own, with non-durable subscriptions that
// end with it: nothing is acked for a queue group and no durable position
// moves, and the durable subscriptions keep delivering while it runs.

const (
	// replayProbeWait is how long Replay waits for a channel's last message
	// before it takes the channel to be empty (if it has received nothing
	// else). The broker sends a new subscription's first message right after
	// confirming the subscription, so this is only ever waited out in full on
	// an empty channel.
	replayProbeWait = time.Second
	// replayStallWait is how long Replay waits for the next message of a
	// channel it has not read to its end before giving up.
	replayStallWait = 30 * time.Second
	// replayInflight is how many messages the broker sends ahead of the reader.
	replayInflight = 1024
	// replayStartEarly widens the start: stan sends a start time as an age,
	// which the broker subtracts from its own clock when the request arrives,
	// so the broker would start late by the request's travel time. Replay
	// starts this much earlier and skips what was stored before since.
	replayStartEarly = time.Second
)

// Replay calls handle for every message that the subjects' channels held when
// it was called and that the broker stored at or after since, then returns.
// Each channel is read in order; the channels are read at once, and handle is
// called for one message at a time. A message whose envelope does not decode
// is skipped (the durable subscriptions park it). A handler error, a lost
// connection or the end of ctx stops the replay with an error.
func (c *Client) Replay(ctx context.Context, since time.Time, handle Handler, subjects ...events.Subject) error {
	if c.cfg.Transport == TransportJetStream {
		return c.replayJetStream(ctx, since, handle, subjects...)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	conn, err := stan.Connect(c.cfg.ClusterID, c.cfg.ClientID+"-replay-"+uuid.NewString()[:8],
		stan.NatsURL(c.cfg.URL),
		stan.NatsOptions(nats.Name(c.cfg.ClientID+"-replay"), c.cfg.credentials()),
		stan.ConnectWait(5*time.Second),
		stan.Pings(c.cfg.PingInterval, c.cfg.PingMaxOut),
		stan.SetConnectionLostHandler(func(_ stan.Conn, err error) {
			cancel(fmt.Errorf("bus: replay connection lost: %w", err))
		}),
	)
	if err != nil {
		return fmt.Errorf("bus: replay: connecting to NATS Streaming: %w", err)
	}
	defer conn.Close()

	var handling sync.Mutex
	deliver := func(subject events.Subject, m *stan.Msg) error {
		env, err := decodeEnvelope(m.Data, subject)
		if err != nil {
			c.log.Warn("replay skips a malformed message", "subject", subject, "seq", m.Sequence, "err", err)
			return nil
		}
		handling.Lock()
		defer handling.Unlock()
		return handle(ctx, Message{Envelope: env, Deliveries: 1, Sequence: m.Sequence})
	}
	return replayEach(subjects, cancel, func(subject events.Subject) error {
		return replayChannel(ctx, conn, subject, since, func(m *stan.Msg) error { return deliver(subject, m) })
	})
}

// replayEach replays every subject at once and returns the first error,
// cancelling the others with it.
func replayEach(subjects []events.Subject, cancel context.CancelCauseFunc, replay func(events.Subject) error) error {
	var (
		wg       sync.WaitGroup
		errsMu   sync.Mutex
		firstErr error
	)
	for _, subject := range subjects {
		wg.Go(func() {
			if err := replay(subject); err != nil {
				errsMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("bus: replaying %s: %w", subject, err)
				}
				errsMu.Unlock()
				cancel(err)
			}
		})
	}
	wg.Wait()
	return firstErr
}

// replayChannel reads subject from since up to the last message it held at the
// start. Two subscriptions run at once: the reader, from since, and a probe
// that receives the channel's last message. The reader is done once it has
// passed the probe's message. A probe that stays silent means an empty
// channel only if the reader has received nothing either; otherwise the probe
// is merely slow and is waited for, so a busy broker cannot make a full
// channel look empty.
func replayChannel(ctx context.Context, conn stan.Conn, subject events.Subject, since time.Time, deliver func(*stan.Msg) error) error {
	done := make(chan struct{})
	var subs []stan.Subscription
	defer func() {
		close(done) // first, so that no callback stays blocked on its channel
		for _, sub := range subs {
			_ = sub.Close()
		}
	}()
	msgs, lastMsg := make(chan *stan.Msg, 64), make(chan *stan.Msg, 1)
	reader, err := conn.Subscribe(string(subject), forwardUntil(done, msgs),
		stan.StartAtTime(since.Add(-replayStartEarly)), stan.MaxInflight(replayInflight))
	if err != nil {
		return err
	}
	subs = append(subs, reader)
	probe, err := conn.Subscribe(string(subject), forwardUntil(done, lastMsg), stan.StartWithLastReceived(), stan.MaxInflight(1))
	if err != nil {
		return err
	}
	subs = append(subs, probe)
	return readToEnd(ctx, since, msgs, lastMsg, deliver)
}

// forwardUntil hands each message to a channel, giving up once done closes so
// a callback never blocks the closing of its subscription.
func forwardUntil(done <-chan struct{}, to chan<- *stan.Msg) stan.MsgHandler {
	return func(m *stan.Msg) {
		select {
		case to <- m:
		case <-done:
		}
	}
}

// readToEnd delivers the reader's messages stored since `since` until the
// reader has passed the probe's message (the channel's last at the start).
func readToEnd(ctx context.Context, since time.Time, msgs, lastMsg <-chan *stan.Msg, deliver func(*stan.Msg) error) error {
	pos := replayPosition{since: since.UnixNano()}
	probeWait := time.NewTimer(replayProbeWait)
	defer probeWait.Stop()
	stalled := time.NewTimer(replayStallWait)
	defer stalled.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-stalled.C:
			return fmt.Errorf("no message for %s while reading towards the channel's end", replayStallWait)
		case <-probeWait.C:
			if pos.last == nil && !pos.received {
				return nil // an empty channel
			}
		case m := <-lastMsg:
			if pos.marked(m) {
				return nil
			}
		case m := <-msgs:
			end, err := pos.read(m, deliver)
			if err != nil || end {
				return err
			}
			stalled.Reset(replayStallWait)
		}
	}
}

// replayPosition is how far the reader got, against the probe's message.
type replayPosition struct {
	since    int64     // UnixNano: messages before it are not delivered
	last     *stan.Msg // the probe's message, once it came
	received bool
	seen     uint64 // the highest sequence the reader passed
}

// marked records the probe's message and reports whether the replay is
// already complete: nothing stored since `since`, or read already.
func (p *replayPosition) marked(m *stan.Msg) bool {
	if p.last != nil {
		return false // a later message; the first one was the last at the start
	}
	p.last = m
	return m.Timestamp < p.since || p.seen >= m.Sequence
}

// read delivers one of the reader's messages, if it is recent enough, and
// reports whether it reached the probe's message.
func (p *replayPosition) read(m *stan.Msg, deliver func(*stan.Msg) error) (end bool, err error) {
	p.received = true
	p.seen = max(p.seen, m.Sequence)
	if m.Timestamp >= p.since {
		if err := deliver(m); err != nil {
			return false, err
		}
	}
	return p.last != nil && m.Sequence >= p.last.Sequence, nil
}
