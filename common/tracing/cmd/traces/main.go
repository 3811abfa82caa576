// Command traces receives the services' spans over OTLP/gRPC, as a collector
// would, and prints each trace as a tree once it has been quiet for a moment:
// when each span started after the trace's first, how long it took, its
// service and its name. For looking at a purchase locally without Jaeger:
//
//	go run ./common/tracing/cmd/traces              # listens on 127.0.0.1:4317
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_BSP_SCHEDULE_DELAY=500 make run
//
// A trace that grows later (the lapse of a hold, a window after its order)
// is printed again, whole. It keeps what it received in memory until it stops.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"ticketing.dev/common/tracing/otlpreceiver"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4317", "where to receive OTLP/gRPC (host:port)")
	quiet := flag.Duration("quiet", 2*time.Second, "how long a trace receives nothing before it is printed")
	flag.Parse()
	rx, err := otlpreceiver.Start(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "traces:", err)
		os.Exit(1)
	}
	defer rx.Close()
	fmt.Printf("receiving traces on %s: run the services with OTEL_EXPORTER_OTLP_ENDPOINT=%s\n", *addr, rx.Endpoint)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p := printer{out: os.Stdout, quiet: *quiet, printed: map[string]int{}}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.printQuiet(rx.Spans(), time.Now())
		}
	}
}

// printer prints the traces that are done, and again those that grew.
type printer struct {
	out     io.Writer
	quiet   time.Duration
	printed map[string]int // trace id → spans printed
}

// printQuiet prints every trace with spans not printed yet whose last span
// ended more than quiet ago.
func (p printer) printQuiet(spans []otlpreceiver.Span, now time.Time) {
	byTrace := map[string][]otlpreceiver.Span{}
	var order []string
	for _, s := range spans {
		if _, ok := byTrace[s.TraceID]; !ok {
			order = append(order, s.TraceID)
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	for _, id := range order {
		tr := byTrace[id]
		last := slices.MaxFunc(tr, func(a, b otlpreceiver.Span) int { return a.End.Compare(b.End) })
		if len(tr) == p.printed[id] || now.Sub(last.End) < p.quiet {
			continue
		}
		p.printed[id] = len(tr)
		printTrace(p.out, tr)
	}
}

// printTrace prints one trace's spans (by start time) as a tree.
func printTrace(out io.Writer, spans []otlpreceiver.Span) {
	ids := map[string]bool{}
	children := map[string][]otlpreceiver.Span{}
	services := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
		services[s.Service] = true
	}
	var roots []otlpreceiver.Span
	for _, s := range spans {
		if ids[s.ParentID] {
			children[s.ParentID] = append(children[s.ParentID], s)
		} else {
			roots = append(roots, s)
		}
	}
	first := spans[0].Start
	fmt.Fprintf(out, "\ntrace %s: %d spans, %d services\n", spans[0].TraceID, len(spans), len(services))
	var walk func(s otlpreceiver.Span, depth int)
	walk = func(s otlpreceiver.Span, depth int) {
		mark := ""
		if s.Failed {
			mark = "  ERROR " + s.Error
		}
		fmt.Fprintf(out, "  +%8.3fs %9s  %*s%-11s %s%s\n", s.Start.Sub(first).Seconds(), s.End.Sub(s.Start).Round(10*time.Microsecond),
			2*depth, "", s.Service, s.Name, mark)
		for _, c := range children[s.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}
