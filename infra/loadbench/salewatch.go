package main

import (
	"context"
	"fmt"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
)

// saleWatch follows a flash sale's events on the broker: each winner's
// order:created, published by orders, and the ticket:updated tickets
// publishes once it has handled that order:created and reserved the ticket.
type saleWatch struct {
	client   *bus.Client
	created  *arrivals // order id -> its order:created
	reserved *arrivals // order id -> the ticket:updated naming it
}

// watchSale subscribes to the events of the sale of tickets (their ids).
func (b *bench) watchSale(ctx context.Context, tickets []string) (*saleWatch, error) {
	onSale := make(map[string]bool, len(tickets))
	for _, id := range tickets {
		onSale[id] = true
	}
	c, err := b.watchBroker(ctx)
	if err != nil {
		return nil, err
	}
	w := &saleWatch{
		client: c,
		created: newArrivals(func(e events.Envelope) (string, bool) {
			o, err := events.Decode[events.OrderCreated](e)
			return o.ID, err == nil && onSale[o.Ticket.ID]
		}),
		reserved: newArrivals(func(e events.Envelope) (string, bool) {
			t, err := events.Decode[events.TicketUpdated](e)
			return t.OrderID, err == nil && onSale[t.ID] && t.OrderID != ""
		}),
	}
	for _, s := range []struct {
		subject events.Subject
		got     *arrivals
	}{{events.SubjectOrderCreated, w.created}, {events.SubjectTicketUpdated, w.reserved}} {
		if err := b.subscribe(c, s.subject, s.got); err != nil {
			closeWatch(ctx, c)
			return nil, err
		}
	}
	return w, nil
}

// saleLag is what the broker showed of one flash sale.
type saleLag struct {
	// published: each order:created, from its occurredAt to its delivery to
	// the benchmark; reserved: from the same occurredAt to the arrival of
	// the ticket:updated that tickets published once it had handled it.
	published, reserved []time.Duration
	// missing counts the winners whose events did not both arrive in time.
	missing int
}

// wait waits (up to limit) until the events of winners orders have arrived,
// and returns their delays.
func (w *saleWatch) wait(ctx context.Context, winners int, limit time.Duration) saleLag {
	_ = waitUntil(ctx, limit, "the flash sale's events", func(context.Context) (bool, error) {
		return w.created.count() >= winners && w.reserved.count() >= winners, nil
	})
	orders := w.created.keys()
	var lag saleLag
	lag.published, _, _ = w.created.of(orders)
	var missing int
	lag.reserved, _, missing = w.reserved.since(orders, w.created)
	lag.missing = max(0, winners-len(orders)) + missing
	return lag
}

// notes describe the lag under the sale's row.
func (l saleLag) notes() []string {
	line := func(what string, d []time.Duration) string {
		return fmt.Sprintf("%s, %d events: p50 %s, p99 %s, max %s", what, len(d), ms(percentile(d, 50)), ms(percentile(d, 99)), ms(percentile(d, 100)))
	}
	notes := []string{
		line("order:created on the broker (occurredAt, at the reservation's write -> delivered to the benchmark)", l.published),
		line("ticket reserved (the order:created's occurredAt -> tickets' ticket:updated delivered to the benchmark)", l.reserved),
	}
	if l.missing > 0 {
		notes = append(notes, fmt.Sprintf("%d winners' events did not both arrive", l.missing))
	}
	return notes
}

func (w *saleWatch) close(ctx context.Context) { closeWatch(ctx, w.client) }
