package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/stan.go"
)

// stanConn is the NATS Streaming transport: one stan connection, durable
// queue subscriptions with manual acks.
type stanConn struct {
	c  *Client
	sc stan.Conn
}

func (c *Client) dialStan() (conn, error) {
	sc, err := stan.Connect(c.cfg.ClusterID, c.cfg.ClientID,
		stan.NatsURL(c.cfg.URL),
		stan.NatsOptions(
			nats.Name(c.cfg.ClientID),
			c.cfg.credentials(),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(c.cfg.ReconnectWait),
		),
		stan.ConnectWait(5*time.Second),
		stan.PubAckWait(c.cfg.PubAckWait),
		stan.Pings(c.cfg.PingInterval, c.cfg.PingMaxOut),
		stan.SetConnectionLostHandler(func(_ stan.Conn, err error) {
			c.log.Warn("NATS Streaming connection lost", "err", err)
			c.connectionLost()
		}),
	)
	if err != nil {
		return nil, err
	}
	return &stanConn{c: c, sc: sc}, nil
}

func (s *stanConn) connected() bool {
	nc := s.sc.NatsConn()
	return nc != nil && nc.IsConnected()
}

// publish blocks until the ack or PubAckWait, which bounds it; NATS
// Streaming has no deduplication, so msgID goes unused.
func (s *stanConn) publish(_ context.Context, subject string, data []byte, _ string) error {
	return s.sc.Publish(subject, data)
}

func (s *stanConn) subscribe(sub *Subscription) error {
	_, err := s.sc.QueueSubscribe(string(sub.Subject), sub.Queue,
		func(m *stan.Msg) { s.c.deliver(sub, stanDelivery(m)) },
		stan.DurableName(sub.Queue),
		stan.DeliverAllAvailable(),
		stan.SetManualAckMode(),
		stan.AckWait(sub.AckWait),
		stan.MaxInflight(sub.MaxInflight),
	)
	return err
}

func stanDelivery(m *stan.Msg) delivery {
	return delivery{data: m.Data, seq: m.Sequence, deliveries: int(m.RedeliveryCount) + 1, ack: m.Ack}
}

// stopDelivery has nothing to do: Client.deliver leaves what comes after
// Close began unacked, for the next member.
func (s *stanConn) stopDelivery() {}

// drop makes sure the NATS connection of a stan connection stan has closed
// already goes too.
func (s *stanConn) drop() {
	if nc := s.sc.NatsConn(); nc != nil {
		nc.Close()
	}
}

// close closes the connection without unsubscribing: the durable queue
// groups keep their position.
func (s *stanConn) close() error { return s.sc.Close() }

// redrive reads the parked channel with the durable subscription
// RedriveDurable, from its start.
func (s *stanConn) redrive(ctx context.Context, run *redriveRun) error {
	sub, err := s.sc.Subscribe(ParkedChannel(run.queue), func(m *stan.Msg) { run.handle(stanDelivery(m)) },
		stan.DurableName(RedriveDurable),
		stan.DeliverAllAvailable(),
		stan.SetManualAckMode(),
		stan.AckWait(30*time.Second),
		stan.MaxInflight(16),
	)
	if err != nil {
		return err
	}
	err = run.wait(ctx)
	// Close, not Unsubscribe: the durable keeps its position for the next run.
	if closeErr := sub.Close(); err == nil && closeErr != nil {
		return closeErr
	}
	return err
}
