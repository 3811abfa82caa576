package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/testenv"
)

// Broker is the system's broker, of either transport (testenv.NATS,
// testenv.JetStream).
type Broker interface {
	// Stop stops it (SIGTERM), Kill ends it at once (SIGKILL), Start starts
	// it again at the same address and store.
	Stop(t testing.TB)
	Kill(t testing.TB)
	Start(t testing.TB)
	// Credential is a broker user's name and password.
	Credential(t testing.TB, user string) bus.Credential
	// BusConfigAs is a bus configuration for user on this broker.
	BusConfigAs(t testing.TB, user string) bus.Config
}

// Cluster is a three-node broker of either transport (testenv.NATSCluster,
// testenv.JetStreamCluster), secured as a single node is. As a Broker it is
// the whole cluster; KillNode and StartNode take one node down and up.
type Cluster interface {
	Broker
	// Leader is the node that leads: the stream's leader on JetStream, the
	// Raft leader of NATS Streaming; -1 while none does.
	Leader() int
	KillNode(t testing.TB, i int)
	StartNode(t testing.TB, i int)
}

// NewOnCluster is New on a three-node cluster of the transport EVENT_BUS
// names, formed (a leader elected) before it returns. On JetStream every
// service keeps the stream on all three nodes (JETSTREAM_REPLICAS=3).
func NewOnCluster(t testing.TB) *System {
	t.Helper()
	s := &System{t: t, Transport: testenv.BusTransport()}
	if s.Transport == bus.TransportJetStream {
		c := testenv.NewSecuredJetStreamCluster(t)
		s.Cluster, s.url = c, c.URL
	} else {
		c := testenv.NewNATSCluster(t)
		s.Cluster, s.url = c, c.URL
	}
	s.NATS = s.Cluster
	// The stream is made sure of by the first client; until then JetStream
	// names no leader.
	_ = s.Bus()
	require.Eventually(t, func() bool { return s.Cluster.Leader() >= 0 }, time.Minute, 100*time.Millisecond,
		"harness: the %s cluster never elected a leader", s.Transport)
	return s
}

// BrokerURL is the broker's address, the NATS_URL every service gets.
func (s *System) BrokerURL() string { return s.url }

// Bus returns a client on the system's broker, for a test that plays another
// service: publishing its events or watching ours. It connects as the
// observer user, which may publish on every channel. Closed with the test.
func (s *System) Bus() *bus.Client {
	return testenv.ConnectBus(s.t, s.NATS.BusConfigAs(s.t, bus.ObserverUser))
}

// PublishRaw puts data on channel as the observer user, bypassing the bus
// client, for a test that must put on the wire what no bus client sends (a
// payload that is no event). On JetStream the channel is the stream's
// subject bus.SubjectPrefix+channel; the stream is made sure of first.
func (s *System) PublishRaw(channel string, data []byte) {
	s.t.Helper()
	if s.Transport == bus.TransportJetStream {
		_, err := s.jetStream().Publish(testenv.Context(s.t), bus.SubjectPrefix+channel, data)
		require.NoError(s.t, err, "publishing on %s", channel)
		return
	}
	require.NoError(s.t, s.stan("raw").Publish(channel, data), "publishing on %s", channel)
}

// stan is a raw NATS Streaming connection as the observer user.
func (s *System) stan(prefix string) stan.Conn {
	s.t.Helper()
	c := s.NATS.Credential(s.t, bus.ObserverUser)
	conn, err := stan.Connect(testenv.ClusterID, testenv.RandomName(prefix), stan.NatsURL(s.url),
		stan.NatsOptions(nats.UserInfo(c.User, c.Password)))
	require.NoError(s.t, err, "connecting to the broker as %s", c.User)
	s.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// jetStream is a raw JetStream context as the observer user, once the
// stream exists (a bus client makes sure of it as it connects).
func (s *System) jetStream() jetstream.JetStream {
	s.t.Helper()
	_ = s.Bus()
	c := s.NATS.Credential(s.t, bus.ObserverUser)
	nc, err := nats.Connect(s.url, nats.UserInfo(c.User, c.Password))
	require.NoError(s.t, err, "connecting to the broker as %s", c.User)
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(s.t, err)
	return js
}

// parkedMarkerPrefix starts the end marker Parked publishes; it is never a
// parked record.
const parkedMarkerPrefix = "harness: end of parked records "

// Parked returns every record parked for queue (bus.ParkedChannel) since the
// broker started, in order. Reading a channel never says it is at its end,
// so Parked first appends a marker of its own and reads up to it: what comes
// before is everything parked until now, none included when nothing was.
func (s *System) Parked(queue string) []bus.Parked {
	s.t.Helper()
	channel := bus.ParkedChannel(queue)
	marker := parkedMarkerPrefix + testenv.RandomName("")
	s.PublishRaw(channel, []byte(marker))
	raw, stop := s.readFromStart(channel)
	defer stop()
	var parked []bus.Parked
	timeout := time.After(30 * time.Second)
	for {
		select {
		case data := <-raw:
			switch {
			case string(data) == marker:
				return parked
			case bytes.HasPrefix(data, []byte(parkedMarkerPrefix)):
				continue // an earlier reader's marker
			}
			var p bus.Parked
			if err := json.Unmarshal(data, &p); err != nil {
				p = bus.Parked{Queue: queue, Reason: "unreadable parked record: " + string(data)}
			}
			parked = append(parked, p)
		case <-timeout:
			s.t.Fatalf("harness: reading %s did not reach its end marker in 30s", channel)
		}
	}
}

// readFromStart delivers every message of channel, from its first, on the
// returned channel until stop is called.
func (s *System) readFromStart(channel string) (raw <-chan []byte, stop func()) {
	s.t.Helper()
	out := make(chan []byte, 1024)
	if s.Transport != bus.TransportJetStream {
		conn := s.stan("parked-reader")
		sub, err := conn.Subscribe(channel, func(m *stan.Msg) { out <- m.Data }, stan.DeliverAllAvailable())
		require.NoError(s.t, err)
		return out, func() { _ = sub.Close(); _ = conn.Close() }
	}
	ctx, cancel := context.WithCancel(testenv.Context(s.t))
	cons, err := s.jetStream().OrderedConsumer(ctx, bus.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.SubjectPrefix + channel}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		cancel()
		require.NoError(s.t, err)
	}
	go func() {
		for ctx.Err() == nil {
			m, err := cons.Next(jetstream.FetchContext(ctx))
			if err != nil {
				continue
			}
			select {
			case out <- m.Data():
			case <-ctx.Done():
			}
		}
	}()
	return out, cancel
}
