package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// budget bounds one loop: at most Count operations, none started after Time
// has passed, Workers of them in flight at once.
type budget struct {
	Workers int
	Count   int
	Time    time.Duration
}

// outcome is what one operation ended with: an HTTP status, or 0 for a
// driver call that succeeded; err when it failed outright.
type outcome struct {
	Status int
	Err    error
}

// sample is one loop's measurements.
type sample struct {
	// Took holds every operation's latency, sorted once the loop ends.
	Took     []time.Duration
	Statuses map[int]int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
	// Rounds are the slices versus cut the loop into, in order.
	Rounds []*sample
}

// opTimeout bounds a single operation, so a stuck request cannot hold a
// loop open past its budget by more than this.
const opTimeout = 30 * time.Second

// drive runs op from b.Workers goroutines until b.Count operations were
// started, b.Time passed or ctx ended, and waits for those in flight. op gets
// the operation's index, 0 to b.Count-1, each exactly once.
func drive(ctx context.Context, b budget, op func(ctx context.Context, i int) outcome) *sample {
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(b.Time)
	parts := make([]*sample, b.Workers)
	var wg sync.WaitGroup
	for w := range parts {
		part := &sample{Statuses: map[int]int{}}
		parts[w] = part
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= b.Count {
					return
				}
				opCtx, cancel := context.WithTimeout(ctx, opTimeout)
				t0 := time.Now()
				o := op(opCtx, i)
				part.record(time.Since(t0), o)
				cancel()
			}
		})
	}
	wg.Wait()
	out := merge(parts...)
	out.Elapsed = time.Since(start)
	return out
}

// record adds one operation's latency and outcome; it reports whether the
// operation got an answer (an HTTP status) rather than an error.
func (s *sample) record(took time.Duration, o outcome) bool {
	s.Took = append(s.Took, took)
	if o.Err != nil {
		s.Errors++
		if s.FirstErr == nil {
			s.FirstErr = o.Err
		}
		return false
	}
	s.Statuses[o.Status]++
	return true
}

// merge adds samples up: their operations, answers and wall time.
func merge(parts ...*sample) *sample {
	out := &sample{Statuses: map[int]int{}}
	for _, p := range parts {
		out.Took = append(out.Took, p.Took...)
		for s, n := range p.Statuses {
			out.Statuses[s] += n
		}
		out.Errors += p.Errors
		if out.FirstErr == nil {
			out.FirstErr = p.FirstErr
		}
		out.Elapsed += p.Elapsed
	}
	slices.Sort(out.Took)
	return out
}

// Count is how many operations finished, whatever their outcome.
func (s *sample) Count() int { return len(s.Took) }

// Rate is operations per second over the loop's wall time.
func (s *sample) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Count()) / s.Elapsed.Seconds()
}

// Percentile is the nearest-rank q-th percentile (0 < q <= 100) of the
// latencies; 0 when nothing ran.
func (s *sample) Percentile(q float64) time.Duration {
	return percentile(s.Took, q)
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Only counts the operations that ended with one of statuses.
func (s *sample) Only(statuses ...int) int {
	n := 0
	for _, st := range statuses {
		n += s.Statuses[st]
	}
	return n
}

// Unexpected counts errors and statuses outside want.
func (s *sample) Unexpected(want ...int) int {
	return s.Count() - s.Only(want...)
}

// measured runs one loop and accounts the CPU every process spent on it.
func measured(pids func() map[string]int, loop func() *sample) (*sample, cpuAccount) {
	before := cpuNow(pids())
	s := loop()
	cpu := cpuAccount{}
	cpu.add(before, cpuNow(pids()))
	return s, cpu
}

// rounds is how many slices versus cuts a timed comparison into: enough that
// a burst of other work on the shared machine lands on both loops alike (five
// slices of 2 s left 10-point swings between runs).
const rounds = 10

// versus runs the ceiling loop and the scenario in alternating slices, each
// getting its budget's Time in total, so that whatever else the machine does
// meanwhile (it is shared) weighs on both alike. Each loop's Count bounds it
// over all its slices, and its operations are numbered across slices.
func versus(ctx context.Context, pids func() map[string]int, cb, b budget, ceilingOp, op func(ctx context.Context, i int) outcome) (ceiling, scenario *sample, ceilingCPU, cpu cpuAccount) {
	var cs, ss []*sample
	ceilingCPU, cpu = cpuAccount{}, cpuAccount{}
	for range rounds {
		c, cc := measured(pids, func() *sample { return drive(ctx, sliceOf(cb, cs), offset(ceilingOp, cs)) })
		s, sc := measured(pids, func() *sample { return drive(ctx, sliceOf(b, ss), offset(op, ss)) })
		cs, ss = append(cs, c), append(ss, s)
		for k, v := range cc {
			ceilingCPU[k] += v
		}
		for k, v := range sc {
			cpu[k] += v
		}
	}
	ceiling, scenario = merge(cs...), merge(ss...)
	ceiling.Rounds, scenario.Rounds = cs, ss
	return ceiling, scenario, ceilingCPU, cpu
}

// sliceOf is one round's share of b, after the rounds done.
func sliceOf(b budget, done []*sample) budget {
	b.Time /= rounds
	for _, d := range done {
		b.Count -= d.Count()
	}
	b.Count = max(b.Count, 0)
	return b
}

// offset numbers a round's operations after those of the rounds done.
func offset(op func(ctx context.Context, i int) outcome, done []*sample) func(ctx context.Context, i int) outcome {
	n := 0
	for _, d := range done {
		n += d.Count()
	}
	return func(ctx context.Context, i int) outcome { return op(ctx, n+i) }
}
