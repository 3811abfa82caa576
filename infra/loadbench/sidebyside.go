package main

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"ticketing.dev/infra/runner/launch"
)

// The side-by-side comparison (-only side-by-side): the same requests to
// this system and to a foreign one, the Node original this project
// re-implements, in alternating rounds of one run (versus, with the
// original where a ceiling loop would be), so that whatever else the shared
// machine does weighs on both alike. The foreign system is named by its
// base URL (ORIGINAL_URL) and a folder whose run/ holds one <name>.pid file
// per process (ORIGINAL_DATA_DIR), as the runner keeps them; it needs only
// the routes the original has: signup, signin, currentuser and the tickets'
// list, lookup and creation. infra/loadbench/original.sh sets it up.

// originalPrefix names the original's processes in the CPU and memory
// accounts, beside this system's own.
const originalPrefix = "original/"

// originalCookie is the original's session cookie (cookie-session's name).
const originalCookie = "express:sess"

// firstListed is the catalogue the first list is measured with: one page of
// ours, and all that the original, which does not page, answers.
const firstListed = pageSize

// contender is one of the two systems compared.
type contender struct {
	name    string
	api     *api
	pids    func() map[string]int
	users   []person
	tickets []string
}

// sideRow is one route measured on both systems in the same rounds.
type sideRow struct {
	Name           string
	Want           int
	Original, Ours *sample
	// OriginalCPU and OursCPU are what every process spent in the
	// original's rounds and in ours.
	OriginalCPU, OursCPU cpuAccount
}

type sideBench struct {
	opts           config
	out            io.Writer
	runID          string
	original, ours *contender
	rows           []sideRow
	memory         memoryReport
}

// sideBySide starts (or attaches to) this system, attaches to the original,
// seeds both through their APIs and measures each route on both.
func sideBySide(ctx context.Context, opts config, out io.Writer) (bool, error) {
	sys, err := openSystem(ctx, opts, out)
	if err != nil {
		return false, err
	}
	defer sys.stop(opts.Keep)
	original := func() map[string]int { return prefixed(launch.PIDs(opts.OriginalDir)) }
	if len(original()) == 0 {
		return false, fmt.Errorf("no pid files in %s/run: is ORIGINAL_DATA_DIR the original's folder (infra/loadbench/original.sh start)?", opts.OriginalDir)
	}
	if err := launch.WaitReady(ctx, opts.OriginalURL, 10*time.Second, nil); err != nil {
		return false, fmt.Errorf("the original at %s: %w", opts.OriginalURL, err)
	}
	conns := opts.Concurrency
	theirs := newAPI(strings.TrimSuffix(opts.OriginalURL, "/"), conns)
	theirs.cookie = originalCookie
	b := &sideBench{
		opts: opts, out: out, runID: randomID(),
		original: &contender{name: "original", api: theirs, pids: original},
		ours:     &contender{name: "ours", api: newAPI(sys.baseURL, conns), pids: sys.pids},
	}
	if err := b.run(ctx); err != nil {
		return false, err
	}
	return b.report(), nil
}

// prefixed names the original's processes apart from ours.
func prefixed(pids map[string]int) map[string]int {
	out := make(map[string]int, len(pids))
	for name, pid := range pids {
		out[originalPrefix+name] = pid
	}
	return out
}

// both is every process of the two systems.
func (b *sideBench) both() map[string]int {
	out := b.ours.pids()
	for name, pid := range b.original.pids() {
		out[name] = pid
	}
	return out
}

// run seeds both systems, then measures the reads and signin with
// firstListed tickets, the list again with the whole catalogue, and last the
// creation of tickets, which grows the list the original answers whole.
func (b *sideBench) run(ctx context.Context) error {
	load := watch(b.both, 100*time.Millisecond)
	for _, c := range []*contender{b.original, b.ours} {
		if err := b.seed(ctx, c); err != nil {
			load.Stop()
			return err
		}
	}
	_ = pause(ctx, b.opts.Settle)
	rest := snapshot(b.both())
	b.compare(ctx, "GET /api/users/currentuser", http.StatusOK, func(c *contender) op {
		return func(ctx context.Context, i int) outcome {
			return c.api.call(ctx, http.MethodGet, "/api/users/currentuser", c.users[i%len(c.users)].Token, nil)
		}
	})
	b.compare(ctx, fmt.Sprintf("GET /api/tickets (%d listed)", firstListed), http.StatusOK, listOp)
	b.compare(ctx, "GET /api/tickets/:id", http.StatusOK, showOp)
	b.signIns(ctx)
	for _, c := range []*contender{b.original, b.ours} {
		if err := b.list(ctx, c, b.opts.Catalogue-len(c.tickets)); err != nil {
			load.Stop()
			return err
		}
	}
	b.compare(ctx, fmt.Sprintf("GET /api/tickets (%d listed)", b.opts.Catalogue), http.StatusOK, listOp)
	b.compare(ctx, "POST /api/tickets", http.StatusCreated, func(c *contender) op {
		return func(ctx context.Context, i int) outcome {
			return c.api.call(ctx, http.MethodPost, "/api/tickets", c.users[i%len(c.users)].Token,
				map[string]any{"title": fmt.Sprintf("Side %s #%d", b.runID, i), "price": 20.5})
		}
	})
	peak := load.Stop()
	_ = pause(ctx, b.opts.Settle)
	b.memory = memoryReport{rest: rest, peak: peak, after: snapshot(b.both())}
	return ctx.Err()
}

type op = func(ctx context.Context, i int) outcome

func listOp(c *contender) op {
	return func(ctx context.Context, _ int) outcome {
		return c.api.call(ctx, http.MethodGet, "/api/tickets", "", nil)
	}
}

func showOp(c *contender) op {
	return func(ctx context.Context, _ int) outcome {
		return c.api.call(ctx, http.MethodGet, "/api/tickets/"+c.tickets[mrand.IntN(len(c.tickets))], "", nil)
	}
}

// compare runs a route on both systems in alternating rounds.
func (b *sideBench) compare(ctx context.Context, name string, want int, opOf func(*contender) op) {
	b.step("%s: original and ours in %d alternating rounds", name, rounds)
	t := budget{Workers: b.opts.Concurrency, Count: 10_000_000, Time: b.opts.Duration}
	b.compareWithin(ctx, name, want, t, opOf)
}

func (b *sideBench) compareWithin(ctx context.Context, name string, want int, t budget, opOf func(*contender) op) {
	orig, ours, origCPU, oursCPU := versus(ctx, b.both, t, t, opOf(b.original), opOf(b.ours))
	b.rows = append(b.rows, sideRow{Name: name, Want: want, Original: orig, Ours: ours, OriginalCPU: origCPU, OursCPU: oursCPU})
}

// signIns signs each user in at most 4 times on each system: under our
// per-email burst of 5, which the original does not have.
func (b *sideBench) signIns(ctx context.Context) {
	t := budget{Workers: b.opts.Concurrency, Count: 4 * b.opts.Buyers, Time: b.opts.Duration}
	b.step("POST /api/users/signin: original and ours in %d alternating rounds", rounds)
	b.compareWithin(ctx, "POST /api/users/signin", http.StatusOK, t, func(c *contender) op {
		return func(ctx context.Context, i int) outcome {
			return c.api.call(ctx, http.MethodPost, "/api/users/signin", "",
				map[string]string{"email": c.users[i%len(c.users)].Email, "password": benchPassword})
		}
	})
}

// seed signs -buyers users up on c and lists the first tickets, each from
// one of them, measuring both as rows of their own.
func (b *sideBench) seed(ctx context.Context, c *contender) error {
	b.step("seeding %s: %d users sign up, then list %d tickets", c.name, b.opts.Buyers, firstListed)
	n := b.opts.Buyers
	c.users = make([]person, n)
	s := drive(ctx, budget{Workers: b.opts.Concurrency, Count: n, Time: seedTime}, func(ctx context.Context, i int) outcome {
		var o outcome
		c.users[i], o = c.api.signUp(ctx, fmt.Sprintf("sbs-%s-%d@example.com", b.runID, i))
		return o
	})
	if got := s.Only(http.StatusCreated); got != n {
		return fmt.Errorf("%s: only %d of %d signups succeeded (%v; first error: %v)", c.name, got, n, s.Statuses, s.FirstErr)
	}
	b.seedRow("POST /api/users/signup (seeding)", c, s)
	return b.list(ctx, c, firstListed)
}

// list has c's users list n more tickets.
func (b *sideBench) list(ctx context.Context, c *contender, n int) error {
	if n <= 0 {
		return nil
	}
	from := len(c.tickets)
	c.tickets = append(c.tickets, make([]string, n)...)
	s := drive(ctx, budget{Workers: b.opts.Concurrency, Count: n, Time: seedTime}, func(ctx context.Context, i int) outcome {
		var o outcome
		c.tickets[from+i], o = c.api.listTicket(ctx, c.users[i%len(c.users)], fmt.Sprintf("Concert %s #%d", b.runID, from+i), float64(10+i%90)+0.5)
		return o
	})
	if got := s.Only(http.StatusCreated); got != n {
		return fmt.Errorf("%s: only %d of %d listings succeeded (%v; first error: %v)", c.name, got, n, s.Statuses, s.FirstErr)
	}
	return nil
}

// seedRow keeps a seeding loop's figures, run on one system at a time.
func (b *sideBench) seedRow(name string, c *contender, s *sample) {
	for i := range b.rows {
		if b.rows[i].Name == name {
			b.rows[i].Ours = s
			return
		}
	}
	b.rows = append(b.rows, sideRow{Name: name, Want: http.StatusCreated, Original: s})
}

func (b *sideBench) step(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// served is the throughput of the expected answers.
func served(s *sample, want int) float64 {
	if s == nil || s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Statuses[want]) / s.Elapsed.Seconds()
}

// machineCPU is what every process but the benchmark spent per request of
// s: in a side's rounds the whole machine works for that side.
func machineCPU(cpu cpuAccount, s *sample) string {
	if s == nil || cpu == nil {
		return "-"
	}
	return cpuPerRequest(cpu.total()-cpu[selfName], s.Count())
}

// ratio is ours over the original's, or 0 when either is missing.
func ratio(ours, original float64) float64 {
	if ours <= 0 || original <= 0 {
		return 0
	}
	return ours / original
}

// report prints the routes, what each spent, and each service's memory;
// it is true when every answer was the expected one.
func (b *sideBench) report() bool {
	fmt.Fprintf(b.out, "\nSide by side (concurrency %d, %s per route on each system, in %d alternating rounds)\n\n",
		b.opts.Concurrency, b.opts.Duration, rounds)
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "route\toriginal req/s\tp99\tCPU/req\tours req/s\tp99\tCPU/req\tours/original\t")
	clean := true
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%.1f\t%s\t%s\t%s\t\n", r.Name,
			served(r.Original, r.Want), p99(r.Original), machineCPU(r.OriginalCPU, r.Original),
			served(r.Ours, r.Want), p99(r.Ours), machineCPU(r.OursCPU, r.Ours),
			times(ratio(served(r.Ours, r.Want), served(r.Original, r.Want))))
		clean = clean && unexpected(r) == 0
	}
	tw.Flush()
	for _, r := range b.rows {
		fmt.Fprintf(b.out, "  %s\n", r.Name)
		for _, l := range r.details() {
			fmt.Fprintf(b.out, "      %s\n", l)
		}
	}
	b.printMemory()
	return clean
}

func p99(s *sample) string {
	if s == nil {
		return "-"
	}
	return ms(s.Percentile(99))
}

func times(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

func unexpected(r sideRow) int {
	n := 0
	for _, s := range []*sample{r.Original, r.Ours} {
		if s != nil {
			n += s.Unexpected(r.Want)
		}
	}
	return n
}

// details are each system's answers and where its CPU went.
func (r sideRow) details() []string {
	var lines []string
	for _, side := range []struct {
		name string
		s    *sample
		cpu  cpuAccount
	}{{"original", r.Original, r.OriginalCPU}, {"ours", r.Ours, r.OursCPU}} {
		if side.s == nil {
			continue
		}
		line := fmt.Sprintf("%s: answers %s, p50 %s", side.name, statuses(side.s), ms(side.s.Percentile(50)))
		if side.cpu != nil {
			line += "; CPU per request " + perOp(side.cpu, side.s.Count())
		}
		lines = append(lines, line)
	}
	return lines
}

// printMemory prints the resident memory of each service of ours beside the
// original's service of the same name, at rest (after seeding, and after
// the load) and at its peak (VmHWM, the kernel's high-water mark); then the
// part of it that is each process's own (RssAnon), without the pages of its
// executable and libraries: most of a Go service's RSS is its mapped binary,
// most of Node's its heap.
func (b *sideBench) printMemory() {
	m := b.memory
	b.memoryTable("Resident memory, MiB: at rest after seeding / after the load / peak (VmHWM)",
		"original rest\tafter\tpeak\tours rest\tafter\tpeak\tours/original at rest\tat peak",
		func(o, u string) string {
			oPeak, uPeak := max(m.after[o].HWM, m.rest[o].HWM), max(m.after[u].HWM, m.rest[u].HWM)
			return fmt.Sprintf("%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s",
				mib(m.rest[o].RSS), mib(m.after[o].RSS), mib(oPeak), mib(m.rest[u].RSS), mib(m.after[u].RSS), mib(uPeak),
				times(ratio(float64(m.rest[u].RSS), float64(m.rest[o].RSS))), times(ratio(float64(uPeak), float64(oPeak))))
		})
	fmt.Fprintln(b.out, "  (gateway: nginx in front of each; the database is ours, shared, and listed once, under ours)")
	b.memoryTable("Of that, the process's own (RssAnon: heap, stacks; not the mapped executable and libraries), MiB",
		"original rest\tafter\tours rest\tafter\tours/original at rest\tafter",
		func(o, u string) string {
			return fmt.Sprintf("%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s",
				mib(m.rest[o].Anon), mib(m.after[o].Anon), mib(m.rest[u].Anon), mib(m.after[u].Anon),
				times(ratio(float64(m.rest[u].Anon), float64(m.rest[o].Anon))), times(ratio(float64(m.after[u].Anon), float64(m.after[o].Anon))))
		})
}

// memoryTable prints a table with a row per process name: the name, then
// what row returns for the original's process of that name and ours.
func (b *sideBench) memoryTable(title, columns string, row func(original, ours string) string) {
	fmt.Fprintf(b.out, "\n%s\n\n", title)
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "service\t%s\t\n", columns)
	for _, name := range memoryNames(b.memory.after) {
		fmt.Fprintf(tw, "%s\t%s\t\n", name, row(originalPrefix+name, name))
	}
	tw.Flush()
}

// memoryNames are the processes' names without the original's prefix, the
// services first, each once.
func memoryNames(readings map[string]memory) []string {
	seen := map[string]bool{}
	for name := range readings {
		seen[strings.TrimPrefix(name, originalPrefix)] = true
	}
	out := []string{}
	for _, n := range goServices {
		if seen[n] {
			out = append(out, n)
			delete(seen, n)
		}
	}
	rest := make([]string, 0, len(seen))
	for n := range seen {
		rest = append(rest, n)
	}
	slices.Sort(rest)
	return append(out, rest...)
}
