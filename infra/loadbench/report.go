package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one scenario: the requests through the gateway, the bare driver
// loop it is compared with, and the targets it is held to.
type row struct {
	Name   string
	Sample *sample
	// Want are the statuses the scenario expects; anything else (and any
	// transport error) fails the row.
	Want []int
	// Rate, when set, is the number of operations its throughput counts
	// (signins that succeeded); otherwise every expected answer counts.
	Rate int

	Ceiling     *sample
	CeilingWhat string
	// CPU and CeilingCPU are what each process spent on the scenario and
	// on its ceiling loop.
	CPU, CeilingCPU cpuAccount

	MinRatio float64       // 0: no target
	MaxP99   time.Duration // 0: no target
	Checks   []check
	Notes    []string
}

// check is one target, already judged.
type check struct {
	What string
	Met  bool
}

func (b *bench) add(r row) { b.rows = append(b.rows, r) }

func (r row) throughput() float64 {
	n := r.Rate
	if n == 0 {
		n = r.Sample.Only(r.Want...)
	}
	if r.Sample.Elapsed <= 0 {
		return 0
	}
	return float64(n) / r.Sample.Elapsed.Seconds()
}

func (r row) ceilingRate() float64 {
	if r.Ceiling == nil || r.Ceiling.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ceiling.Count()-r.Ceiling.Errors) / r.Ceiling.Elapsed.Seconds()
}

func (r row) ratio() float64 {
	if c := r.ceilingRate(); c > 0 {
		return r.throughput() / c
	}
	return 0
}

// roundRatios is the ratio of each round the scenario and its ceiling both
// ran in, to show how steady the machine was; nil when the row counts its
// throughput otherwise (Rate).
func (r row) roundRatios() []float64 {
	if r.Ceiling == nil || r.Rate != 0 {
		return nil
	}
	var out []float64
	for i := 0; i < len(r.Sample.Rounds) && i < len(r.Ceiling.Rounds); i++ {
		s, c := r.Sample.Rounds[i], r.Ceiling.Rounds[i]
		if s.Elapsed <= 0 || c.Elapsed <= 0 || c.Count() == c.Errors {
			continue
		}
		out = append(out, (float64(s.Only(r.Want...))/s.Elapsed.Seconds())/(float64(c.Count()-c.Errors)/c.Elapsed.Seconds()))
	}
	return out
}

// verdict judges every target of the row.
func (r row) verdict() []check {
	var out []check
	if bad := r.Sample.Unexpected(r.Want...); bad > 0 {
		what := fmt.Sprintf("%d unexpected answers %v", bad, r.Sample.Statuses)
		if r.Sample.FirstErr != nil {
			what += fmt.Sprintf(" (first error: %v)", r.Sample.FirstErr)
		}
		out = append(out, check{What: what, Met: false})
	}
	if r.Ceiling != nil && r.Ceiling.Errors > 0 {
		out = append(out, check{What: fmt.Sprintf("ceiling loop: %d errors (first: %v)", r.Ceiling.Errors, r.Ceiling.FirstErr), Met: false})
	}
	if r.MinRatio > 0 {
		out = append(out, check{What: fmt.Sprintf("ratio >= %.0f%%", r.MinRatio*100), Met: r.ratio() >= r.MinRatio})
	}
	if r.MaxP99 > 0 {
		out = append(out, check{What: fmt.Sprintf("p99 < %s", r.MaxP99), Met: r.Sample.Percentile(99) < r.MaxP99})
	}
	return append(out, r.Checks...)
}

// memoryReport holds the readings of every process at each moment.
type memoryReport struct {
	startup, rest, after map[string]memory
	peak                 map[string]int64
}

// report prints the tables and says whether every target was met.
func (b *bench) report() bool {
	allMet := b.printScenarios()
	fmt.Fprintln(b.out, "\nWhat each figure is compared with, and the targets:")
	for _, r := range b.rows {
		fmt.Fprintf(b.out, "  %s\n", r.Name)
		for _, l := range r.details() {
			fmt.Fprintf(b.out, "      %s\n", l)
		}
	}
	b.printIdle()
	memMet := b.printMemory()
	met := allMet && memMet
	if met {
		fmt.Fprintln(b.out, "\nevery target met")
	} else {
		fmt.Fprintln(b.out, "\nsome targets missed (MISS above)")
	}
	return met
}

// printScenarios prints one line a scenario, with its verdict, and reports
// whether every scenario met its targets.
func (b *bench) printScenarios() bool {
	allMet := true
	fmt.Fprintf(b.out, "\nScenarios (concurrency %d; flash sale %d at once; timed scenarios %s each, their ceiling loops the same)\n\n",
		b.opts.Concurrency, b.opts.SaleConcurrency, b.opts.Duration)
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tp50\tp99\tceiling req/s\tratio\tresult\t")
	for _, r := range b.rows {
		ceiling, ratio := "-", "-"
		if r.Ceiling != nil {
			ceiling = fmt.Sprintf("%.0f", r.ceilingRate())
			ratio = fmt.Sprintf("%.0f%%", 100*r.ratio())
		}
		checks := r.verdict()
		result := "info" // a scenario without targets only informs
		if len(checks) > 0 {
			result = "PASS"
			for _, c := range checks {
				if !c.Met {
					result = "MISS"
					allMet = false
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Sample.Count(), r.throughput(),
			ms(r.Sample.Percentile(50)), ms(r.Sample.Percentile(99)), ceiling, ratio, result)
	}
	tw.Flush()
	return allMet
}

// details are the lines under a scenario's name: what its figures are
// compared with, its answers and CPU, each target met or missed, its notes.
func (r row) details() []string {
	var lines []string
	if r.Ceiling != nil {
		lines = append(lines, fmt.Sprintf("ceiling: %s (%d ops, p50 %s, p99 %s)", r.CeilingWhat, r.Ceiling.Count(),
			ms(r.Ceiling.Percentile(50)), ms(r.Ceiling.Percentile(99))))
		if rr := r.roundRatios(); len(rr) > 1 {
			lines = append(lines, fmt.Sprintf("ratio in each of %d alternating rounds: %.0f%% to %.0f%%, median %.0f%%",
				len(rr), 100*slices.Min(rr), 100*slices.Max(rr), 100*median(rr)))
		}
	}
	lines = append(lines, fmt.Sprintf("answers: %s", statuses(r.Sample)))
	if line := perOp(r.CPU, r.Sample.Count()); line != "" {
		lines = append(lines, "CPU per request: "+line)
	}
	if r.Ceiling != nil {
		if line := perOp(r.CeilingCPU, r.Ceiling.Count()); line != "" {
			lines = append(lines, "CPU per ceiling op: "+line)
		}
	}
	for _, c := range r.verdict() {
		mark := "ok  "
		if !c.Met {
			mark = "MISS"
		}
		lines = append(lines, mark+" "+c.What)
	}
	return append(lines, r.Notes...)
}

// printIdle prints what the system spends doing nothing: the outbox relays'
// once-a-second looks for pending events, which FerretDB answers by reading
// whole collections.
func (b *bench) printIdle() {
	if b.idleFor <= 0 {
		return
	}
	names := make([]string, 0, len(b.idle))
	for n, d := range b.idle {
		if d > 0 && n != selfName {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(x, y string) int { return int(b.idle[y] - b.idle[x]) })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", n, 100*b.idle[n].Seconds()/b.idleFor.Seconds()))
	}
	fmt.Fprintf(b.out, "\nAt rest after seeding, over %s: CPU used (100%% = one CPU): %s\n", b.idleFor.Round(time.Second), strings.Join(parts, ", "))
}

// printMemory prints each process's resident memory and judges the Go
// services against the targets: under 48 MiB at rest (after seeding, and
// again after the load), and a peak (VmHWM, the kernel's high-water mark
// over the whole run) under 128 MiB.
func (b *bench) printMemory() bool {
	m := b.memory
	names := map[string]bool{}
	for _, set := range []map[string]memory{m.startup, m.rest, m.after} {
		for n := range set {
			names[n] = true
		}
	}
	var ordered []string
	for _, n := range goServices {
		if names[n] {
			ordered = append(ordered, n)
			delete(names, n)
		}
	}
	var others []string
	for n := range names {
		others = append(others, n)
	}
	slices.Sort(others)
	ordered = append(ordered, others...)

	fmt.Fprintf(b.out, "\nResident memory, MiB (targets for the Go services: < %d at rest, < %d peak)\n\n", restLimitKiB>>10, underLoadLimitKiB>>10)
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tstarted\tat rest\tload (sampled max)\tafter load\tpeak (VmHWM)\tresult\t")
	met := true
	for _, n := range ordered {
		hwm := max(m.after[n].HWM, m.rest[n].HWM)
		result := "info"
		if slices.Contains(goServices, n) {
			ok := m.rest[n].RSS > 0 && m.rest[n].RSS < restLimitKiB && m.after[n].RSS > 0 && m.after[n].RSS < restLimitKiB && hwm < underLoadLimitKiB
			result = "PASS"
			if !ok {
				result = "MISS"
				met = false
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n", n, mib(m.startup[n].RSS), mib(m.rest[n].RSS), mib(m.peak[n]),
			mib(m.after[n].RSS), mib(hwm), result)
	}
	tw.Flush()
	fmt.Fprintln(b.out, "  (a service restarted during the run shows only its new process; the gateway row is nginx, master and worker, the load's front door, not one of the services)")
	return met
}

// perOp renders the CPU each process spent per operation, the busiest
// first, leaving out processes that spent under 2% of the total.
func perOp(cpu cpuAccount, ops int) string {
	total := cpu.total()
	if ops == 0 || total == 0 {
		return ""
	}
	names := make([]string, 0, len(cpu))
	for n, d := range cpu {
		if d*50 >= total {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(cpu[b] - cpu[a]) })
	parts := []string{fmt.Sprintf("total %.2fms", float64(total.Microseconds())/1000/float64(ops))}
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, float64(cpu[n].Microseconds())/1000/float64(ops)))
	}
	return strings.Join(parts, ", ")
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func statuses(s *sample) string {
	var parts []string
	codes := make([]int, 0, len(s.Statuses))
	for c := range s.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		label := fmt.Sprint(c)
		if c == 0 {
			label = "ok"
		}
		parts = append(parts, fmt.Sprintf("%s x%d", label, s.Statuses[c]))
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("errors x%d (first: %v)", s.Errors, s.FirstErr))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
