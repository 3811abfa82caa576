package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
)

func TestTheTransportsFollowEventBusUnlessNamed(t *testing.T) {
	o, err := parseOptions(nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, transportList{"stan"}, o.Buses, "NATS Streaming, the default transport, when EVENT_BUS is unset")
	assert.Equal(t, "stan", o.Bus)

	o, err = parseOptions(nil, env(map[string]string{"EVENT_BUS": "jetstream"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, transportList{"jetstream"}, o.Buses, "the transport EVENT_BUS names, as the runner would use")

	o, err = parseOptions([]string{"-bus", "stan, jetstream"}, env(map[string]string{"EVENT_BUS": "jetstream"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, transportList{"stan", "jetstream"}, o.Buses, "-bus overrides EVENT_BUS, in the order given")
	assert.Equal(t, "stan", o.Bus)
}

func TestBadTransportsAreRefused(t *testing.T) {
	_, err := parseOptions([]string{"-bus", "stan,kafka"}, env(nil), io.Discard)
	assert.ErrorContains(t, err, `transport "kafka" (-bus, EVENT_BUS) is not one of stan, jetstream`)

	_, err = parseOptions([]string{"-bus", "jetstream,jetstream"}, env(nil), io.Discard)
	assert.ErrorContains(t, err, `transport "jetstream" (-bus) is named twice`)

	_, err = parseOptions(nil, env(map[string]string{"EVENT_BUS": "kafka"}), io.Discard)
	assert.ErrorContains(t, err, `transport "kafka" (-bus, EVENT_BUS) is not one of stan, jetstream`)

	_, err = parseOptions([]string{"-bus", "stan,jetstream"},
		env(map[string]string{"BASE_URL": "http://localhost:8080", "DATA_DIR": "/srv/.data"}), io.Discard)
	assert.ErrorContains(t, err, "a running system has one transport")
}

func TestEachCellsTransportsArePrintedTogether(t *testing.T) {
	sale := func(transport, cell string, winners int, p99 time.Duration) saleFigures {
		return saleFigures{Transport: transport, Cell: cell, Answered: 1000, Winners: winners, Rate: 80.5,
			P50: 300 * time.Millisecond, P99: p99, Published: [2]time.Duration{5 * time.Millisecond, 40 * time.Millisecond},
			Reserved: [2]time.Duration{20 * time.Millisecond, 90 * time.Millisecond}}
	}
	var out bytes.Buffer
	// As run: every cell on stan, then every cell on JetStream.
	printSalesByTransport(&out, []saleFigures{
		sale("stan", "8 in flight, catalogue 100", 100, 3*time.Second),
		sale("stan", "50 in flight, catalogue 100", 99, 9*time.Second),
		sale("jetstream", "8 in flight, catalogue 100", 100, 2*time.Second),
		sale("jetstream", "50 in flight, catalogue 100", 100, 7*time.Second),
	})
	var cells []string
	var rows [][]string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, " in flight") {
			f := strings.Fields(l)
			cells = append(cells, strings.Join(f[:len(f)-11], " "))
			rows = append(rows, f[len(f)-11:])
		}
	}
	require.Len(t, rows, 4, out.String())
	for i, want := range []struct{ cell, transport, winners, p99 string }{
		{"8 in flight, catalogue 100", "stan", "100", "3000.0ms"}, {"8 in flight, catalogue 100", "jetstream", "100", "2000.0ms"},
		{"50 in flight, catalogue 100", "stan", "99", "9000.0ms"}, {"50 in flight, catalogue 100", "jetstream", "100", "7000.0ms"},
	} {
		assert.Equal(t, want.cell, cells[i], "row %d", i)
		assert.Equal(t, []string{want.transport, "1000", want.winners, "80.5", "300.0ms", want.p99,
			"5.0ms", "40.0ms", "20.0ms", "90.0ms", "0"}, rows[i], "row %d", i)
	}
}

func envelope(t *testing.T, p events.Payload, occurred time.Time) bus.Message {
	data, err := json.Marshal(p)
	require.NoError(t, err)
	return bus.Message{Envelope: events.Envelope{ID: "e", Subject: p.Subject(), OccurredAt: occurred, Data: data}}
}

func TestArrivalsTimeEachEventFromWhatCausedIt(t *testing.T) {
	onSale := map[string]bool{"t1": true, "t2": true}
	created := newArrivals(func(e events.Envelope) (string, bool) {
		o, err := events.Decode[events.OrderCreated](e)
		return o.ID, err == nil && onSale[o.Ticket.ID]
	})
	reserved := newArrivals(func(e events.Envelope) (string, bool) {
		tu, err := events.Decode[events.TicketUpdated](e)
		return tu.OrderID, err == nil && onSale[tu.ID] && tu.OrderID != ""
	})
	ctx := context.Background()
	hourAgo := time.Now().Add(-time.Hour)
	for _, m := range []bus.Message{
		envelope(t, events.OrderCreated{ID: "o1", Ticket: events.OrderTicket{ID: "t1"}}, hourAgo),
		envelope(t, events.OrderCreated{ID: "o1", Ticket: events.OrderTicket{ID: "t1"}}, hourAgo), // redelivered
		envelope(t, events.OrderCreated{ID: "o2", Ticket: events.OrderTicket{ID: "t2"}}, hourAgo.Add(30*time.Minute)),
		envelope(t, events.OrderCreated{ID: "o3", Ticket: events.OrderTicket{ID: "elsewhere"}}, hourAgo),
	} {
		require.NoError(t, created.handle(ctx, m), "every event is acked")
	}
	for _, m := range []bus.Message{
		envelope(t, events.TicketUpdated{ID: "t1", OrderID: "o1"}, time.Now()),
		envelope(t, events.TicketUpdated{ID: "t2"}, time.Now()), // released: no order
	} {
		require.NoError(t, reserved.handle(ctx, m))
	}

	assert.Equal(t, 2, created.count(), "the other sale's order is not counted")
	assert.Equal(t, 1, created.dups)
	delays, _, missing := created.of([]string{"o1", "o2"})
	require.Len(t, delays, 2)
	assert.Zero(t, missing)
	assert.InDelta(t, 30*time.Minute, delays[0], float64(time.Minute), "sorted: the later order first")
	assert.InDelta(t, time.Hour, delays[1], float64(time.Minute))

	delays, last, missing := reserved.since([]string{"o1", "o2"}, created)
	require.Len(t, delays, 1, "o2's ticket was never reserved")
	assert.Equal(t, 1, missing)
	assert.InDelta(t, time.Hour, delays[0], float64(time.Minute), "from o1's order:created, an hour before")
	assert.WithinDuration(t, time.Now(), last, time.Minute)
}
