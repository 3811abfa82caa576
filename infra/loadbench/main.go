// Command loadbench drives the running marketplace from a separate process,
// through its gateway as any client would, and prints per scenario the
// throughput, p50 and p99 latency, and the ceiling: what a bare MongoDB
// driver loop achieves with the same query shape against the same database,
// measured in the same run. The embedded database (FerretDB on SQLite) sets
// that ceiling on this kind of machine, so each scenario is judged as a ratio
// to it, not against an absolute figure that would only describe the machine.
// It also prints each service's resident memory at rest and under load.
//
// By default it starts its own system (bin/runner with NO_CLIENT=1, a
// temporary data folder, free ports), so it never disturbs a `make run`.
// Given BASE_URL and DATA_DIR (and BASE_PORT, if not 4100) it drives that
// running system instead, adding its own users and tickets to it.
//
//	make bench
//	go run ./infra/loadbench -catalogue 1000 -sale-concurrency 50
//	go run ./infra/loadbench -only sale -sale-in-flight 8,50 -sale-catalogues 100,1000
//	go run ./infra/loadbench -only sale -bus stan,jetstream   # a system on each transport in turn
//
// Every loop is bounded in count and in time; it stops by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"ticketing.dev/common/bus"
)

// config is the benchmark's knobs. Flags set the load; the environment
// names an already running system, with the runner's own variable names.
type config struct {
	Duration        time.Duration
	Concurrency     int
	SaleConcurrency int
	Buyers          int
	SaleTickets     int
	Catalogue       int
	Sellers         int
	Settle          time.Duration
	Keep            bool
	// SustainFor and SustainRate shape the sustained-writes scenario; a
	// rate of 0 is a share of what a closed loop achieves first.
	SustainFor  time.Duration
	SustainRate float64
	// Only names the one scenario to run ("sustained", "signin", "browse",
	// "sale", "observability"), or is empty for all.
	Only string
	// SaleInFlight and SaleCatalogues are the cells -only sale runs: a
	// flash sale for each catalogue size and number of buyers in flight.
	SaleInFlight   intList
	SaleCatalogues intList
	// Buses are the transports to run on, one system each, in turn
	// (EVENT_BUS's values); Bus is the one a pass runs on.
	Buses transportList
	Bus   string

	Root     string
	BaseURL  string
	DataDir  string
	BasePort int
	// OriginalURL and OriginalDir name the foreign system -only side-by-side
	// compares with: its base URL, and the folder whose run/ holds its pid files.
	OriginalURL string
	OriginalDir string
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o config
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each timed scenario runs (and its ceiling loop)")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "requests in flight at once, in every scenario and its ceiling loop")
	fs.IntVar(&o.SaleConcurrency, "sale-concurrency", 0, "buyers clicking at the same moment in the flash sale (default: -concurrency)")
	fs.IntVar(&o.Buyers, "buyers", 1000, "buyers in the flash sale (each signs up, then tries once)")
	fs.IntVar(&o.SaleTickets, "sale-tickets", 100, "tickets in the flash sale")
	fs.IntVar(&o.Catalogue, "catalogue", 100, "tickets listed before browsing (the 'list a ticket' scenario)")
	fs.IntVar(&o.Sellers, "sellers", 10, "sellers who list the catalogue")
	fs.DurationVar(&o.Settle, "settle", 5*time.Second, "pause before memory is read at rest")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary data folder and the runner's log")
	fs.DurationVar(&o.SustainFor, "sustain-for", 60*time.Second, "how long the sustained-writes scenario offers POST /api/tickets")
	fs.Float64Var(&o.SustainRate, "sustain-rate", 0, "listings per second the sustained-writes scenario offers (0: 80% of what a closed loop achieves just before)")
	fs.StringVar(&o.Only, "only", "", "run only this scenario: sustained (signs up only the sellers), signin (signs up only the buyers), "+
		"browse (the public reads at each cache layer), sale (the flash sale for each of -sale-in-flight and -sale-catalogues), observability (browsing with tracing and metrics off, then on, on two systems) "+
		"or side-by-side (each route of the original on this system and on the one ORIGINAL_URL and ORIGINAL_DATA_DIR name, in alternating rounds)")
	o.SaleInFlight, o.SaleCatalogues = intList{8, 50}, intList{100, 1000}
	fs.Var(&o.SaleInFlight, "sale-in-flight", "with -only sale: buyers in flight at once, one flash sale each (comma-separated)")
	fs.Var(&o.SaleCatalogues, "sale-catalogues", "with -only sale: tickets in the catalogue, one round of flash sales each (comma-separated)")
	o.Buses = transportList{bus.TransportStan}
	if v := getenv("EVENT_BUS"); v != "" {
		o.Buses = transportList{v}
	}
	fs.Var(&o.Buses, "bus", "the transports to run on, one system each in turn, comparing their flash sales (comma-separated: stan, jetstream; default EVENT_BUS, else stan)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.SaleConcurrency == 0 {
		o.SaleConcurrency = o.Concurrency
	}
	o.Bus = o.Buses[0]
	o.Root = getenv("TICKETING_ROOT")
	o.BaseURL = getenv("BASE_URL")
	o.DataDir = getenv("DATA_DIR")
	o.OriginalURL = getenv("ORIGINAL_URL")
	o.OriginalDir = getenv("ORIGINAL_DATA_DIR")
	o.BasePort = 4100
	if v := getenv("BASE_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return o, fmt.Errorf("BASE_PORT=%q is not a port number", v)
		}
		o.BasePort = n
	}
	return o, o.check()
}

// check reports every option that makes no sense, in one error.
func (o config) check() error {
	var errs []error
	if (o.BaseURL == "") != (o.DataDir == "") {
		errs = append(errs, errors.New("name a running system with both BASE_URL and DATA_DIR, or neither to start one"))
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"-concurrency", o.Concurrency}, {"-sale-concurrency", o.SaleConcurrency}, {"-buyers", o.Buyers},
		{"-sale-tickets", o.SaleTickets}, {"-catalogue", o.Catalogue}, {"-sellers", o.Sellers}} {
		if f.value < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", f.name))
		}
	}
	if !slices.Contains([]string{"", "sustained", "signin", "browse", "sale", "observability", "side-by-side"}, o.Only) {
		errs = append(errs, fmt.Errorf("-only %q: the scenarios that run alone are sustained, signin, browse, sale, observability and side-by-side", o.Only))
	}
	if (o.Only == "side-by-side") != (o.OriginalURL != "" && o.OriginalDir != "") {
		errs = append(errs, errors.New("-only side-by-side, and only it, needs the original named by both ORIGINAL_URL and ORIGINAL_DATA_DIR"))
	}
	errs = append(errs, o.checkBuses()...)
	if o.Only == "observability" && o.BaseURL != "" {
		errs = append(errs, errors.New("-only observability starts two systems of its own: unset BASE_URL and DATA_DIR"))
	}
	if o.SustainFor <= 0 {
		errs = append(errs, errors.New("-sustain-for must be positive"))
	}
	if o.Duration <= 0 {
		errs = append(errs, errors.New("-duration must be positive"))
	}
	if o.Buyers < o.SaleTickets && o.Only != "side-by-side" { // it holds no sale
		errs = append(errs, errors.New("-buyers must be at least -sale-tickets"))
	}
	return errors.Join(errs...)
}

// checkBuses reports what is wrong with -bus.
func (o config) checkBuses() []error {
	var errs []error
	if err := o.Buses.check(); err != nil {
		errs = append(errs, err)
	}
	if o.BaseURL != "" && len(o.Buses) > 1 {
		errs = append(errs, errors.New("-bus: a running system has one transport; name it alone (its EVENT_BUS), or unset BASE_URL and DATA_DIR"))
	}
	return errs
}

func main() {
	opts, err := parseOptions(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	met, err := run(ctx, opts, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
	if !met {
		os.Exit(3)
	}
}
