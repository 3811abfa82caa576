package testenv

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"ticketing.dev/common/bus"
)

// Broker is a broker of the transport the run selects (BusTransport): a NATS
// Streaming server, or a nats-server with JetStream. It is what a test that
// needs "the broker", and not one transport in particular, asks for, so that
// `EVENT_BUS=jetstream go test ./...` runs the same tests on JetStream.
// Tests about one transport (its cluster id, its configuration files) use
// NATSURL, NewNATS, JetStreamURL or NewJetStream instead.
type Broker struct {
	broker
	// Transport is bus.TransportStan or bus.TransportJetStream.
	Transport string
}

// BusTransport returns the transport EVENT_BUS names for the tests, stan
// when it is unset. Any other value stops the run: a typo would otherwise
// test NATS Streaming twice.
func BusTransport() string {
	t := os.Getenv("EVENT_BUS")
	if t == "" {
		return bus.TransportStan
	}
	if !slices.Contains(bus.Transports, t) {
		panic(fmt.Sprintf("testenv: EVENT_BUS=%q is not one of %v", t, bus.Transports))
	}
	return t
}

var sharedBroker shared[*Broker]

// SharedBroker returns the package's shared broker of BusTransport, which
// lets anyone in: the shared NATS Streaming server (NATSURL) or the shared
// JetStream server (JetStreamURL). Never stop it; a test that stops its
// broker starts one of its own with NewBroker.
func SharedBroker(t testing.TB) *Broker {
	t.Helper()
	return sharedBroker.get(t, func() (*Broker, func(), error) {
		transport := BusTransport()
		url := ""
		if transport == bus.TransportJetStream {
			url = JetStreamURL(t)
		} else {
			url = NATSURL(t)
		}
		return &Broker{broker: broker{URL: url}, Transport: transport}, nil, nil
	})
}

// NewBroker starts a dedicated, restartable broker of BusTransport, on a
// file store, that lets anyone in (NewNATS or NewJetStream).
func NewBroker(t testing.TB) *Broker {
	t.Helper()
	if transport := BusTransport(); transport == bus.TransportJetStream {
		return &Broker{broker: NewJetStream(t).broker, Transport: transport}
	}
	return &Broker{broker: NewNATS(t).broker, Transport: bus.TransportStan}
}

// BusConfig returns a bus configuration for b: a unique client id, fast
// failure detection, b's transport.
func (b *Broker) BusConfig() bus.Config {
	cfg := BusConfig(b.URL)
	cfg.Transport = b.Transport
	return cfg
}

// NewBus returns a bus client connected to b, closed when the test ends.
func (b *Broker) NewBus(t testing.TB) *bus.Client {
	t.Helper()
	return ConnectBus(t, b.BusConfig())
}

// Env returns the settings that point a service at b: NATS_URL,
// NATS_CLUSTER_ID and EVENT_BUS.
func (b *Broker) Env() map[string]string {
	return map[string]string{"NATS_URL": b.URL, "NATS_CLUSTER_ID": ClusterID, "EVENT_BUS": b.Transport}
}
