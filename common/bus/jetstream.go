package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Timeouts of JetStream's API requests. A cluster that is still electing
// leaders answers none; a short deadline per attempt, retried by
// connectLoop every ReconnectWait, gets through as soon as it has formed.
const (
	jsSetupTimeout = 2 * time.Second
	jsAckTimeout   = 5 * time.Second
	pullExpiry     = 4 * time.Second
	pullHeartbeat  = time.Second
)

// groupMembers is how many members of a queue group may each have
// MaxInflight messages unacked at once: a JetStream consumer's ack-pending
// limit is the group's, where NATS Streaming's MaxInflight is a member's.
const groupMembers = 8

// jsConn is the JetStream transport: a NATS connection that reconnects by
// itself, the stream made sure of at connect, and one durable pull consumer
// per (queue group, subject) that every member of the group pulls from.
type jsConn struct {
	c  *Client
	nc *nats.Conn
	js jetstream.JetStream

	mu        sync.Mutex
	consuming []jetstream.ConsumeContext
}

func (c *Client) natsConnect(name string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(c.cfg.URL, append([]nats.Option{
		nats.Name(name),
		c.cfg.credentials(),
		nats.Timeout(5 * time.Second),
		nats.PingInterval(time.Duration(c.cfg.PingInterval) * time.Second),
		nats.MaxPingsOutstanding(c.cfg.PingMaxOut),
	}, opts...)...)
}

func (c *Client) dialJetStream() (conn, error) {
	nc, err := c.natsConnect(c.cfg.ClientID,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(c.cfg.ReconnectWait),
		// Publish fails at once while disconnected, as on stan, rather
		// than buffering what the broker may never get.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.log.Warn("JetStream connection lost; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info("reconnected to JetStream", "url", nc.ConnectedUrl())
		}),
		// It closes by itself only for good (refused credentials, say):
		// start over then.
		nats.ClosedHandler(func(nc *nats.Conn) {
			c.mu.Lock()
			j, ok := c.conn.(*jsConn)
			c.mu.Unlock()
			if ok && j.nc == nc {
				c.connectionLost()
			}
		}),
	)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		err = ensureStream(js, c.cfg.Replicas)
	}
	if err != nil {
		closeQuietly(nc)
		return nil, err
	}
	return &jsConn{c: c, nc: nc, js: js}, nil
}

// ensureStream creates the stream or updates it to StreamConfig.
func ensureStream(js jetstream.JetStream, replicas int) error {
	ctx, cancel := context.WithTimeout(context.Background(), jsSetupTimeout)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(replicas)); err != nil {
		return fmt.Errorf("making sure of stream %s: %w", StreamName, err)
	}
	return nil
}

func (j *jsConn) connected() bool { return j.nc.IsConnected() }

// publish sends data with msgID as Nats-Msg-Id: the stream drops a second
// message with an id it has seen within DuplicateWindow, and acks it as if
// stored.
func (j *jsConn) publish(ctx context.Context, subject string, data []byte, msgID string) error {
	if !j.connected() {
		// The connection is reconnecting by itself, and keeps nothing for
		// later (ReconnectBufSize), so say so at once, as stan does once it
		// gave its connection up.
		return ErrNotConnected
	}
	ctx, cancel := context.WithTimeout(ctx, j.c.cfg.PubAckWait)
	defer cancel()
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(StreamName)}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	_, err := j.js.Publish(ctx, streamSubject(subject), data, opts...)
	return err
}

// consumerConfig is the durable consumer of s: explicit acks, redelivery
// after AckWait with no limit of the broker's (parking is the client's),
// from the start of the subject's history for a new group.
func consumerConfig(s *Subscription) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(s.Queue, string(s.Subject)),
		Description:   "queue group " + s.Queue + " on " + string(s.Subject),
		FilterSubject: streamSubject(string(s.Subject)),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.MaxInflight * groupMembers,
	}
}

func (j *jsConn) subscribe(s *Subscription) error {
	return j.consume(consumerConfig(s), s.MaxInflight, func(m jetstream.Msg) { j.c.deliver(s, jsDelivery(m)) })
}

// consume creates or updates the durable consumer cfg and pulls from it,
// up to inflight messages at a time.
func (j *jsConn) consume(cfg jetstream.ConsumerConfig, inflight int, handle jetstream.MessageHandler) error {
	ctx, cancel := context.WithTimeout(context.Background(), jsSetupTimeout)
	defer cancel()
	cons, err := j.js.CreateOrUpdateConsumer(ctx, StreamName, cfg)
	if err != nil {
		return err
	}
	cc, err := cons.Consume(handle, jetstream.PullMaxMessages(inflight),
		// A pull request waits at the consumer's leader; one lost with a
		// leader that died is noticed by its missing heartbeats and made
		// again within seconds, not after the default 30 s.
		jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				j.c.log.Debug("pulling from JetStream", "consumer", cfg.Durable, "err", err)
			}
		}))
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.consuming = append(j.consuming, cc)
	j.mu.Unlock()
	return nil
}

// jsDelivery is m for Client.deliver. Its ack waits for the broker's
// confirmation, so an ack lost to a leader change is known as such.
func jsDelivery(m jetstream.Msg) delivery {
	d := delivery{data: m.Data(), deliveries: 1, ack: func() error {
		ctx, cancel := context.WithTimeout(context.Background(), jsAckTimeout)
		defer cancel()
		return m.DoubleAck(ctx)
	}}
	if md, err := m.Metadata(); err == nil {
		d.seq, d.deliveries = md.Sequence.Stream, int(md.NumDelivered)
	}
	return d
}

// stopDelivery stops pulling; the consumers stay, with their positions.
func (j *jsConn) stopDelivery() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, cc := range j.consuming {
		cc.Stop()
	}
	j.consuming = nil
}

func (j *jsConn) drop() { closeQuietly(j.nc) }

// closeQuietly closes nc without calling its handlers, which would run after
// the client (and a test's logger) may be gone.
func closeQuietly(nc *nats.Conn) {
	nc.SetDisconnectErrHandler(nil)
	nc.SetReconnectHandler(nil)
	nc.SetClosedHandler(nil)
	nc.Close()
}

// close flushes what is still on its way and closes the connection; it
// never deletes a consumer.
func (j *jsConn) close() error {
	j.stopDelivery()
	_ = j.nc.FlushTimeout(time.Second)
	closeQuietly(j.nc)
	return nil
}

// redrive reads the parked channel with a durable consumer of its own,
// named after RedriveDurable.
func (j *jsConn) redrive(ctx context.Context, run *redriveRun) error {
	channel := ParkedChannel(run.queue)
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(RedriveDurable, channel),
		FilterSubject: streamSubject(channel),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 16,
	}
	ctx2, cancel := context.WithTimeout(ctx, jsSetupTimeout)
	defer cancel()
	cons, err := j.js.CreateOrUpdateConsumer(ctx2, StreamName, cfg)
	if err != nil {
		return err
	}
	// Consume calls back one message at a time, as redriveRun needs.
	cc, err := cons.Consume(func(m jetstream.Msg) { run.handle(jsDelivery(m)) }, jetstream.PullMaxMessages(16))
	if err != nil {
		return err
	}
	defer cc.Stop()
	return run.wait(ctx)
}

// parkedQueues lists the queues that have something on their parked
// channel, from the stream's subjects.
func (j *jsConn) parkedQueues(ctx context.Context) ([]string, error) {
	stream, err := j.js.Stream(ctx, StreamName)
	if err != nil {
		return nil, err
	}
	prefix := streamSubject(ParkedChannel(""))
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, err
	}
	var queues []string
	for subject := range info.State.Subjects {
		if q, ok := strings.CutPrefix(subject, prefix); ok {
			queues = append(queues, q)
		}
	}
	return queues, nil
}

// ParkedQueues lists the queues that have a parked channel, asking the
// broker itself: on JetStream, the stream's subjects. On NATS Streaming it
// needs the monitoring endpoint: use the function ParkedQueues.
func (c *Client) ParkedQueues(ctx context.Context) ([]string, error) {
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	j, ok := cn.(*jsConn)
	switch {
	case cn == nil:
		return nil, ErrNotConnected
	case !ok:
		return nil, errors.New("bus: NATS Streaming lists its channels on its monitoring endpoint only")
	}
	return j.parkedQueues(ctx)
}
