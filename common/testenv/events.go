package testenv

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
)

// Message wraps p in a fresh envelope, as the bus delivers it the first time.
func Message(t testing.TB, p events.Payload) bus.Message {
	t.Helper()
	env, err := events.New(p)
	require.NoError(t, err)
	return bus.Message{Envelope: env, Deliveries: 1}
}

// Deliver hands m to the one of subs that listens on its subject, as the bus
// would, and returns what the handler returned: nil means acked.
func Deliver(t testing.TB, subs []bus.Subscription, m bus.Message) error {
	t.Helper()
	for _, s := range subs {
		if s.Subject == m.Subject {
			return s.Handler(context.Background(), m)
		}
	}
	t.Fatalf("testenv: nothing listens on %s", m.Subject)
	return nil
}

// Recorder collects the events a broker delivers on some subjects, in the
// order they arrive.
type Recorder struct {
	mu  sync.Mutex
	got []Arrival
}

// Arrival is one recorded event and when it arrived: what a test measures
// lateness against (the envelope's time is when it was written).
type Arrival struct {
	events.Envelope
	At time.Time
}

// Record subscribes client to subjects, in a queue group of the test's own,
// and records what arrives.
func Record(t testing.TB, client *bus.Client, subjects ...events.Subject) *Recorder {
	t.Helper()
	r := &Recorder{}
	queue := RandomName("record")
	for _, s := range subjects {
		require.NoError(t, client.Subscribe(bus.Subscription{Subject: s, Queue: queue, Handler: r.record}))
	}
	return r
}

func (r *Recorder) record(_ context.Context, m bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, Arrival{Envelope: m.Envelope, At: time.Now()})
	return nil
}

// Arrivals returns what arrived so far, and when.
func (r *Recorder) Arrivals() []Arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Arrival(nil), r.got...)
}

// Envelopes returns what arrived so far.
func (r *Recorder) Envelopes() []events.Envelope {
	var out []events.Envelope
	for _, a := range r.Arrivals() {
		out = append(out, a.Envelope)
	}
	return out
}

// Payloads returns the payloads of type T that r recorded, in arrival order,
// for which keep (if given) says yes.
func Payloads[T events.Payload](t testing.TB, r *Recorder, keep func(T) bool) []T {
	t.Helper()
	var subject T
	var out []T
	for _, env := range r.Envelopes() {
		if env.Subject != subject.Subject() {
			continue
		}
		p, err := events.Decode[T](env)
		require.NoError(t, err)
		if keep == nil || keep(p) {
			out = append(out, p)
		}
	}
	return out
}
