package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"nothing ran", nil, 99, 0},
		{"one value is every percentile", ms(7), 50, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 1..100 is 99", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99 of ten values is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p100 is the largest", ms(1, 5, 9), 100, 9 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, percentile(c.sorted, c.q))
		})
	}
}

func TestDriveRunsEachOperationOnceWithinItsCount(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	inFlight, most := 0, 0
	s := drive(context.Background(), budget{Workers: 4, Count: 50, Time: time.Minute}, func(_ context.Context, i int) outcome {
		mu.Lock()
		seen[i]++
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond) // overlap with the other workers
		mu.Lock()
		inFlight--
		mu.Unlock()
		if i%10 == 0 {
			return outcome{Err: errors.New("boom")}
		}
		return outcome{Status: 200}
	})
	assert.Equal(t, 50, s.Count())
	assert.Len(t, seen, 50)
	for i, n := range seen {
		assert.Equal(t, 1, n, "operation %d", i)
	}
	assert.LessOrEqual(t, most, 4, "never more in flight than workers")
	assert.Equal(t, 45, s.Statuses[200])
	assert.Equal(t, 5, s.Errors)
	assert.EqualError(t, s.FirstErr, "boom")
	assert.Equal(t, 5, s.Unexpected(200))
	assert.True(t, s.Took[0] <= s.Took[len(s.Took)-1], "latencies sorted")
}

func TestDriveStopsStartingOperationsWhenItsTimeIsUp(t *testing.T) {
	start := time.Now()
	s := drive(context.Background(), budget{Workers: 2, Count: 1_000_000, Time: 50 * time.Millisecond}, func(context.Context, int) outcome {
		time.Sleep(time.Millisecond)
		return outcome{}
	})
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Less(t, s.Count(), 1_000_000)
	assert.Positive(t, s.Count())
}

func TestDriveStopsWhenItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	s := drive(ctx, budget{Workers: 1, Count: 1000, Time: time.Minute}, func(context.Context, int) outcome {
		once.Do(cancel)
		return outcome{}
	})
	assert.Equal(t, 1, s.Count())
}

func TestVersusSharesTheBudgetOutInAlternatingRounds(t *testing.T) {
	var mu sync.Mutex
	var order []string
	var scenarioOps []int
	record := func(name string) func(context.Context, int) outcome {
		return func(_ context.Context, i int) outcome {
			mu.Lock()
			defer mu.Unlock()
			if len(order) == 0 || order[len(order)-1] != name {
				order = append(order, name)
			}
			if name == "scenario" {
				scenarioOps = append(scenarioOps, i)
			}
			return outcome{Status: 200}
		}
	}
	noPIDs := func() map[string]int { return nil }
	ceiling, scenario, _, _ := versus(context.Background(), noPIDs,
		budget{Workers: 1, Count: 1_000_000, Time: 50 * time.Millisecond},
		budget{Workers: 1, Count: 12, Time: time.Minute},
		record("ceiling"), record("scenario"))

	assert.Equal(t, []string{"ceiling", "scenario", "ceiling"}, order,
		"the ceiling goes first; the scenario's count ran out in its first round, the ceiling kept its later rounds")
	assert.Equal(t, 12, scenario.Count())
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, scenarioOps)
	assert.Positive(t, ceiling.Count())
	assert.Equal(t, 12, scenario.Statuses[200])
}

func TestMergeAddsSamplesUp(t *testing.T) {
	a := &sample{Took: []time.Duration{3, 1}, Statuses: map[int]int{200: 2}, Elapsed: time.Second}
	b := &sample{Took: []time.Duration{2}, Statuses: map[int]int{200: 1}, Errors: 1, FirstErr: errors.New("x"), Elapsed: time.Second}
	m := merge(a, b)
	require.Equal(t, []time.Duration{1, 2, 3}, m.Took)
	assert.Equal(t, 3, m.Statuses[200])
	assert.Equal(t, 1, m.Errors)
	assert.Equal(t, 2*time.Second, m.Elapsed)
	assert.InDelta(t, 1.5, m.Rate(), 0.001)
}
