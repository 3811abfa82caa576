package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/infra/runner/launch"
)

// arrivals records when each event that key picks reached the benchmark's
// subscriber, and when it happened (its occurredAt: taken at the write that
// made it). key names the thing the event is about, or says the event is
// not one of the scenario's.
type arrivals struct {
	key      func(events.Envelope) (string, bool)
	mu       sync.Mutex
	first    map[string]time.Time // key -> first arrival
	occurred map[string]time.Time // key -> occurredAt of the first arrival
	dups     int
}

func newArrivals(key func(events.Envelope) (string, bool)) *arrivals {
	return &arrivals{key: key, first: map[string]time.Time{}, occurred: map[string]time.Time{}}
}

// handle is a bus.Handler: it records m and acks it.
func (a *arrivals) handle(_ context.Context, m bus.Message) error {
	now := time.Now()
	k, ok := a.key(m.Envelope)
	if !ok {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, seen := a.first[k]; seen {
		a.dups++
		return nil
	}
	a.first[k] = now
	a.occurred[k] = m.OccurredAt
	return nil
}

// of returns the delays from occurredAt to arrival of the events of keys,
// the last arrival, and how many of keys have not arrived.
func (a *arrivals) of(keys []string) (delays []time.Duration, last time.Time, missing int) {
	return a.since(keys, a)
}

// since is like of, but the delays run from the occurredAt of the event of
// the same key that cause recorded: from the event that caused each of a's.
func (a *arrivals) since(keys []string, cause *arrivals) (delays []time.Duration, last time.Time, missing int) {
	causes := cause.snapshot()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range keys {
		at, ok := a.first[k]
		from, caused := causes[k]
		if !ok || !caused {
			missing++
			continue
		}
		delays = append(delays, at.Sub(from))
		if at.After(last) {
			last = at
		}
	}
	slices.Sort(delays)
	return delays, last, missing
}

// snapshot copies the occurredAt of every event recorded so far.
func (a *arrivals) snapshot() map[string]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.occurred)
}

// keys lists what has arrived so far, in no order.
func (a *arrivals) keys() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Collect(maps.Keys(a.first))
}

// count is how many distinct events have arrived.
func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.first)
}

// watchBroker connects to the system's broker as its observer user (the
// broker admits the runner's users only; their passwords are in its data
// folder), speaking the system's transport. It subscribes a queue group of
// its own, durable like every bus subscription: on a system someone else
// runs, that group stays behind.
func (b *bench) watchBroker(ctx context.Context) (*bus.Client, error) {
	creds, err := launch.ReadCredentials(b.sys.dataDir)
	if err != nil {
		return nil, err
	}
	user, password := creds.Observer()
	b.watchers++
	c := bus.New(bus.Config{
		Transport: b.sys.transport, URL: b.sys.natsURL, ClusterID: "ticketing",
		ClientID: fmt.Sprintf("loadbench-%s-%d", b.runID, b.watchers), User: user, Password: password,
		// Its connection notices go to stderr only when something is wrong.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitConnected(wait); err != nil {
		_ = c.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("connecting to the broker at %s as %s: %w", b.sys.natsURL, user, err)
	}
	return c, nil
}

// watchQueue is the queue group the benchmark's subscriptions join.
func (b *bench) watchQueue() string { return "loadbench-" + b.runID }

// subscribe has c deliver every event on subject that got's key picks to it.
func (b *bench) subscribe(c *bus.Client, subject events.Subject, got *arrivals) error {
	if err := c.Subscribe(bus.Subscription{Subject: subject, Queue: b.watchQueue(), Handler: got.handle}); err != nil {
		return fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	return nil
}

// closeWatch closes a client of watchBroker, waiting for its handlers.
func closeWatch(ctx context.Context, c *bus.Client) {
	done, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = c.Close(done)
}
