package bus_test

// The conformance suite: every test of the bus against a real broker runs
// once per transport, as subtests /stan and /jetstream. A test asks its
// transport for servers (shared, restartable, secured) and the helpers
// (config, rawConn, readParked) speak whichever transport the server at a
// URL speaks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/stan.go"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/testenv"
)

// transport is one of the bus's transports, as the tests drive it.
type transport struct {
	name string // also bus.Config.Transport
}

var transports = []transport{{bus.TransportStan}, {bus.TransportJetStream}}

// forEachTransport runs test once per transport, as a subtest named after it.
func forEachTransport(t *testing.T, test func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { test(t, tr) })
	}
}

func (tr transport) jetstream() bool { return tr.name == bus.TransportJetStream }

// The transport each test server's URL speaks.
var (
	kindsMu sync.Mutex
	kinds   = map[string]transport{}
)

func (tr transport) register(url string) string {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	kinds[url] = tr
	return url
}

// transportOf is the transport of the server at url (stan for one no test
// made: an address where nothing listens).
func transportOf(url string) transport {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if tr, ok := kinds[url]; ok {
		return tr
	}
	return transport{bus.TransportStan}
}

// shared is the package's shared server of the transport.
func (tr transport) shared(t testing.TB) string {
	t.Helper()
	if tr.jetstream() {
		return tr.register(testenv.JetStreamURL(t))
	}
	return tr.register(testenv.NATSURL(t))
}

// server is a server of one test's own that it may stop and start again.
type server struct {
	URL         string
	stop, start func(testing.TB)
}

func (s *server) Stop(t testing.TB)  { s.stop(t) }
func (s *server) Start(t testing.TB) { s.start(t) }

func (tr transport) restartable(t testing.TB) *server {
	t.Helper()
	if tr.jetstream() {
		n := testenv.NewJetStream(t)
		return &server{URL: tr.register(n.URL), stop: n.Stop, start: n.Start}
	}
	n := testenv.NewNATS(t)
	return &server{URL: tr.register(n.URL), stop: n.Stop, start: n.Start}
}

// securedBroker is a server that authenticates every broker user with the
// permissions the access table gives it.
type securedBroker struct {
	URL        string
	tr         transport
	configAs   func(testing.TB, string) bus.Config
	credential func(testing.TB, string) bus.Credential
}

func (s *securedBroker) BusConfigAs(t testing.TB, user string) bus.Config { return s.configAs(t, user) }
func (s *securedBroker) Credential(t testing.TB, user string) bus.Credential {
	return s.credential(t, user)
}

func (tr transport) secured(t *testing.T) *securedBroker {
	t.Helper()
	if tr.jetstream() {
		n := testenv.NewSecuredJetStream(t)
		return &securedBroker{URL: tr.register(n.URL), tr: tr, configAs: n.BusConfigAs, credential: n.Credential}
	}
	n := testenv.NewSecuredNATS(t)
	return &securedBroker{URL: tr.register(n.URL), tr: tr, configAs: n.BusConfigAs, credential: n.Credential}
}

// busConfig is testenv's configuration for url on the transport.
func (tr transport) busConfig(url string) bus.Config {
	if tr.jetstream() {
		return testenv.JetStreamBusConfig(url)
	}
	return testenv.BusConfig(url)
}

func (tr transport) config(t *testing.T, url string) bus.Config {
	cfg := tr.busConfig(url)
	cfg.Logger = testenv.Logger(t)
	cfg.PubAckWait = pubAckWait
	cfg.ReconnectWait = 100 * time.Millisecond
	return cfg
}

// rawPublisher writes bytes on a channel, bypassing the bus.
type rawPublisher interface {
	Publish(channel string, data []byte) error
}

// rawConn is a plain connection to url's broker, for what the bus does not
// offer: writing garbage to a channel.
func rawConn(t *testing.T, url string) rawPublisher {
	t.Helper()
	if transportOf(url).jetstream() {
		nc, err := nats.Connect(url)
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return rawJetStream{js}
	}
	sc, err := stan.Connect(testenv.ClusterID, testenv.RandomName("raw"), stan.NatsURL(url))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

type rawJetStream struct{ js jetstream.JetStream }

func (r rawJetStream) Publish(channel string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Wait)
	defer cancel()
	_, err := r.js.Publish(ctx, bus.SubjectPrefix+channel, data)
	return err
}

func readParked(url, queue string) ([]bus.Parked, error) {
	if transportOf(url).jetstream() {
		return readParkedJetStream(url, queue)
	}
	return readParkedStan(url, queue)
}

// readParkedJetStream reads queue's parked channel up to its last message.
func readParkedJetStream(url, queue string) ([]bus.Parked, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Wait)
	defer cancel()
	stream, err := js.Stream(ctx, bus.StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	subject := bus.SubjectPrefix + bus.ParkedChannel(queue)
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, bus.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, err
	}
	var out []bus.Parked
	for {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			return nil, err
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		if data := m.Data(); data[0] != '"' { // not a redrive marker
			var p bus.Parked
			if err := json.Unmarshal(data, &p); err != nil {
				return nil, fmt.Errorf("parked record %s: %w", data, err)
			}
			out = append(out, p)
		}
		if md.Sequence.Stream >= last.Sequence {
			return out, nil
		}
	}
}

// refused is the error Publish returns for a channel the user may not
// publish on: the broker drops the message, and it is never acknowledged.
func (tr transport) refused() error {
	if tr.jetstream() {
		return context.DeadlineExceeded
	}
	return stan.ErrTimeout
}

// rawConnect connects to url with opt, once, and closes again.
func (tr transport) rawConnect(url string, opt nats.Option) error {
	if tr.jetstream() {
		nc, err := nats.Connect(url, opt, nats.MaxReconnects(0), nats.Timeout(2*time.Second))
		if err == nil {
			nc.Close()
		}
		return err
	}
	conn, err := stan.Connect(testenv.ClusterID, testenv.RandomName("intruder"),
		stan.NatsURL(url), stan.NatsOptions(opt, nats.MaxReconnects(0)), stan.ConnectWait(2*time.Second))
	if err == nil {
		_ = conn.Close()
	}
	return err
}
