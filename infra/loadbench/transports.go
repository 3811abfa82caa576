package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"ticketing.dev/common/bus"
)

// transportList is a flag of comma-separated transports (EVENT_BUS's
// values), e.g. "stan,jetstream".
type transportList []string

func (l *transportList) String() string { return strings.Join(*l, ",") }

func (l *transportList) Set(v string) error {
	var out transportList
	for p := range strings.SplitSeq(v, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	if err := out.check(); err != nil {
		return err
	}
	*l = out
	return nil
}

// check names a transport that is none, or one named twice: a second
// system on the same transport would compare nothing.
func (l transportList) check() error {
	for i, t := range l {
		if !slices.Contains(bus.Transports, t) {
			return fmt.Errorf("transport %q (-bus, EVENT_BUS) is not one of %s", t, strings.Join(bus.Transports, ", "))
		}
		if slices.Contains(l[:i], t) {
			return fmt.Errorf("transport %q (-bus) is named twice", t)
		}
	}
	return nil
}

// brokerName is how the output names a transport's broker.
func brokerName(transport string) string {
	if transport == bus.TransportJetStream {
		return "JetStream"
	}
	return "NATS Streaming"
}

// run runs what opts ask for on each transport of opts.Buses in turn, a
// system each, the next one started once the last has stopped. With more
// than one, it ends with their flash sales, if any ran, side by side.
func run(ctx context.Context, opts config, out io.Writer) (bool, error) {
	met := true
	var sales []saleFigures
	for _, transport := range opts.Buses {
		o := opts
		o.Bus = transport
		if len(opts.Buses) > 1 {
			fmt.Fprintf(out, "\n==== on %s (EVENT_BUS=%s)\n\n", brokerName(transport), transport)
		}
		ok, figures, err := runOn(ctx, o, out)
		if err != nil {
			return false, err
		}
		met = met && ok
		sales = append(sales, figures...)
	}
	if len(opts.Buses) > 1 && len(sales) > 0 {
		printSalesByTransport(out, sales)
	}
	return met, nil
}

// saleFigures is one flash sale on one transport, for the table that puts
// the transports side by side.
type saleFigures struct {
	Transport string
	// Cell names the sale: how many buyers were in flight, and with -only
	// sale the catalogue and replica it ran against.
	Cell              string
	Answered, Winners int
	Rate              float64 // answers (201 and 409) a second
	P50, P99          time.Duration
	// Published and Reserved are the p50 and p99 of the sale's saleLag.
	Published, Reserved [2]time.Duration
	// Missing counts the winners whose events did not both arrive.
	Missing int
}

// addSale adds the flash sale's row, and keeps its figures for the table
// across transports.
func (b *bench) addSale(r row, lag saleLag) {
	b.add(r)
	p := func(d []time.Duration) [2]time.Duration {
		return [2]time.Duration{percentile(d, 50), percentile(d, 99)}
	}
	b.sales = append(b.sales, saleFigures{
		Transport: b.sys.transport,
		Cell:      fmt.Sprintf("%d in flight%s", b.opts.SaleConcurrency, b.saleLabel),
		Answered:  r.Sample.Count(), Winners: r.Sample.Statuses[http.StatusCreated], Rate: r.throughput(),
		P50: r.Sample.Percentile(50), P99: r.Sample.Percentile(99),
		Published: p(lag.published), Reserved: p(lag.reserved), Missing: lag.missing,
	})
}

// printSalesByTransport prints every flash sale, each cell's transports on
// adjacent lines: the same cells ran in the same order on each system, so
// the i-th sale of every transport is the same cell.
func printSalesByTransport(out io.Writer, sales []saleFigures) {
	fmt.Fprintln(out, "\nThe flash sale on each transport (a system of its own each, one after the other)")
	fmt.Fprintln(out, "  order:created: occurredAt -> delivered to the benchmark; reserved: the same occurredAt -> tickets' ticket:updated delivered")
	fmt.Fprintln(out)
	nth := map[string]int{}
	var cells [][]saleFigures
	for _, s := range sales {
		i := nth[s.Transport]
		nth[s.Transport]++
		if i == len(cells) {
			cells = append(cells, nil)
		}
		cells[i] = append(cells[i], s)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "flash sale\ttransport\tanswered\twinners\treq/s\tp50\tp99\torder:created p50\tp99\treserved p50\tp99\tevents missing\t")
	for _, cell := range cells {
		for _, s := range cell {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", s.Cell, s.Transport, s.Answered, s.Winners, s.Rate,
				ms(s.P50), ms(s.P99), ms(s.Published[0]), ms(s.Published[1]), ms(s.Reserved[0]), ms(s.Reserved[1]), s.Missing)
		}
	}
	tw.Flush()
}
