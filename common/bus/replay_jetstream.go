package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
)

// replayJetStream is Replay on JetStream: per subject, an ordered consumer
// (ephemeral, nothing acked, no durable position moves) from the first
// message stored at or after since, read up to the subject's last message
// when it started. The broker filters by its own store time, exactly.
func (c *Client) replayJetStream(ctx context.Context, since time.Time, handle Handler, subjects ...events.Subject) error {
	nc, err := c.natsConnect(c.cfg.ClientID + "-replay")
	if err != nil {
		return fmt.Errorf("bus: replay: connecting to JetStream: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var handling sync.Mutex
	deliver := func(subject events.Subject, m jetstream.Msg, seq uint64) error {
		env, err := decodeEnvelope(m.Data(), subject)
		if err != nil {
			c.log.Warn("replay skips a malformed message", "subject", subject, "seq", seq, "err", err)
			return nil
		}
		handling.Lock()
		defer handling.Unlock()
		return handle(ctx, Message{Envelope: env, Deliveries: 1, Sequence: seq})
	}
	return replayEach(subjects, cancel, func(subject events.Subject) error {
		return replaySubject(ctx, js, subject, since, func(m jetstream.Msg, seq uint64) error { return deliver(subject, m, seq) })
	})
}

// replaySubject reads one subject from since to its last message at the start.
func replaySubject(ctx context.Context, js jetstream.JetStream, subject events.Subject, since time.Time,
	deliver func(jetstream.Msg, uint64) error) error {
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		return err
	}
	last, err := stream.GetLastMsgForSubject(ctx, streamSubject(string(subject)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // nothing was ever published on it
	}
	if err != nil {
		return err
	}
	if last.Time.Before(since) {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streamSubject(string(subject))},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &since,
	})
	if err != nil {
		return err
	}
	for {
		next, stop := context.WithTimeout(ctx, replayStallWait)
		m, err := cons.Next(jetstream.FetchContext(next))
		stop()
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no message for a while reading towards the subject's end: %w", err)
			}
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if err := deliver(m, md.Sequence.Stream); err != nil {
			return err
		}
		if md.Sequence.Stream >= last.Sequence {
			return nil
		}
	}
}
