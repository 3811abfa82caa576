package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/stan.go"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
)

// mover holds one connection to each broker.
type mover struct {
	o  options
	sc stan.Conn
	nc *nats.Conn
	js jetstream.JetStream
}

// report counts one (group, channel) or channel: copied is what the stream
// stored, duplicates what it dropped as already stored.
type report struct{ copied, duplicates int }

func connect(ctx context.Context, o options) (*mover, error) {
	nc, err := nats.Connect(o.jsURL, append(userInfo(o.user, o.password), nats.Name(clientID()), nats.Timeout(5*time.Second))...)
	if err != nil {
		return nil, fmt.Errorf("connecting to JetStream at %s: %w", o.jsURL, err)
	}
	js, err := jetstream.New(nc)
	if err == nil {
		err = ensureStream(ctx, js, o.replicas)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("making sure of stream %s on %s: %w", bus.StreamName, o.jsURL, err)
	}
	sc, err := stan.Connect(o.cluster, clientID(), stan.NatsURL(o.stanURL),
		stan.NatsOptions(append(userInfo(o.stanUser, o.stanPassword), nats.Name(clientID()))...), stan.ConnectWait(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connecting to NATS Streaming at %s (cluster %s): %w", o.stanURL, o.cluster, err)
	}
	return &mover{o: o, sc: sc, nc: nc, js: js}, nil
}

// ensureStream creates the stream if the services have not yet, and leaves
// one that exists as it is: a forgotten -replicas must not shrink it.
func ensureStream(ctx context.Context, js jetstream.JetStream, replicas int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := js.Stream(ctx, bus.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, bus.StreamConfig(replicas))
	}
	return err
}

// userInfo presents user's credentials, if any.
func userInfo(user, password string) []nats.Option {
	if user == "" {
		return nil
	}
	return []nats.Option{nats.UserInfo(user, password)}
}

func (m *mover) close() {
	_ = m.sc.Close()
	m.nc.Close()
}

// copyUnacked copies, for every group and channel it consumes, what the
// group has not acked on NATS Streaming.
func (m *mover) copyUnacked(ctx context.Context, stdout io.Writer) error {
	for _, queue := range m.o.queues {
		for _, subject := range consumes[queue] {
			r, err := m.drain(ctx, subject, func(handle stan.MsgHandler) (stan.Subscription, error) {
				// The group's own durable queue subscription: it receives
				// the group's unacked messages (after AckWait) and every
				// one the group was never sent.
				return m.sc.QueueSubscribe(string(subject), queue, handle, stan.DurableName(queue),
					stan.DeliverAllAvailable(), stan.SetManualAckMode(), stan.AckWait(time.Second), stan.MaxInflight(256))
			})
			fmt.Fprintf(stdout, "%s %s: copied %d, already on JetStream %d\n", queue, subject, r.copied, r.duplicates)
			if err != nil {
				return fmt.Errorf("moving %s's %s: %w", queue, subject, err)
			}
		}
	}
	return nil
}

// copyHistory copies what the -subject channels stored since -since ago,
// through subscriptions that end with it and ack nothing for any group.
func (m *mover) copyHistory(ctx context.Context, stdout io.Writer) error {
	start := time.Now().Add(-m.o.since)
	for _, subject := range m.o.subjects {
		r, err := m.drain(ctx, subject, func(handle stan.MsgHandler) (stan.Subscription, error) {
			return m.sc.Subscribe(string(subject), handle, stan.StartAtTime(start), stan.SetManualAckMode(),
				stan.AckWait(30*time.Second), stan.MaxInflight(256))
		})
		fmt.Fprintf(stdout, "%s since %s: copied %d, already on JetStream %d\n", subject, start.UTC().Format(time.RFC3339), r.copied, r.duplicates)
		if err != nil {
			return fmt.Errorf("copying the history of %s: %w", subject, err)
		}
	}
	return nil
}

// drain subscribes and copies every message that comes, acking each on NATS
// Streaming once JetStream confirmed it, until none came for -idle.
func (m *mover) drain(ctx context.Context, subject events.Subject, subscribe func(stan.MsgHandler) (stan.Subscription, error)) (report, error) {
	var r report
	msgs, done := make(chan *stan.Msg, 256), make(chan struct{})
	sub, err := subscribe(func(msg *stan.Msg) {
		select {
		case msgs <- msg:
		case <-done:
		}
	})
	if err != nil {
		return r, err
	}
	defer func() {
		close(done)
		// Close, not Unsubscribe: a group keeps its durable position.
		_ = sub.Close()
	}()
	seen := map[uint64]bool{}
	idle := time.NewTimer(m.o.idle)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-idle.C:
			return r, nil
		case msg := <-msgs:
			if err := m.copy(ctx, subject, msg, &r, seen[msg.Sequence]); err != nil {
				return r, err
			}
			seen[msg.Sequence] = true
			idle.Reset(m.o.idle)
		}
	}
}

// copy publishes msg's bytes unchanged on the channel's stream subject, with
// the event id as Nats-Msg-Id, then acks it. again is a redelivery within
// this run, counted once.
func (m *mover) copy(ctx context.Context, subject events.Subject, msg *stan.Msg, r *report, again bool) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := m.js.Publish(pctx, bus.SubjectPrefix+string(subject), msg.Data,
		jetstream.WithMsgID(messageID(subject, msg)), jetstream.WithExpectStream(bus.StreamName))
	if err != nil {
		return fmt.Errorf("publishing NATS Streaming's message %d to JetStream: %w", msg.Sequence, err)
	}
	switch {
	case again:
	case ack.Duplicate:
		r.duplicates++
	default:
		r.copied++
	}
	if err := msg.Ack(); err != nil {
		return fmt.Errorf("acking message %d on NATS Streaming: %w", msg.Sequence, err)
	}
	return nil
}

// messageID is the event id, as the relay publishes it; a message without
// one (the consumers park it) gets one from its place on NATS Streaming.
func messageID(subject events.Subject, msg *stan.Msg) string {
	var e struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(msg.Data, &e) == nil && e.ID != "" {
		return e.ID
	}
	return fmt.Sprintf("busmove:%s:%d", subject, msg.Sequence)
}

// clientID is unique per run; NATS Streaming accepts letters, digits, - and _.
func clientID() string {
	host, _ := os.Hostname()
	host = regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(host, "-")
	return fmt.Sprintf("busmove-%s-%d", host, os.Getpid())
}
