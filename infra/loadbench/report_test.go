package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func timedSample(count int, every time.Duration, statuses map[int]int) *sample {
	s := &sample{Statuses: statuses, Elapsed: time.Second}
	for i := range count {
		s.Took = append(s.Took, time.Duration(i+1)*every)
	}
	return s
}

func TestARowIsJudgedAgainstItsCeilingAndTargets(t *testing.T) {
	ceiling := timedSample(1000, time.Microsecond, map[int]int{0: 1000})
	cases := []struct {
		name  string
		row   row
		ratio float64
		met   []bool
	}{
		{
			name: "fast enough and quick enough",
			row: row{Sample: timedSample(900, 50*time.Microsecond, map[int]int{200: 900}), Want: []int{200},
				Ceiling: ceiling, MinRatio: 0.8, MaxP99: 100 * time.Millisecond},
			ratio: 0.9, met: []bool{true, true},
		},
		{
			name: "too slow against the ceiling",
			row: row{Sample: timedSample(700, 50*time.Microsecond, map[int]int{200: 700}), Want: []int{200},
				Ceiling: ceiling, MinRatio: 0.8, MaxP99: 100 * time.Millisecond},
			ratio: 0.7, met: []bool{false, true},
		},
		{
			name: "an unexpected answer fails the row and does not count",
			row: row{Sample: timedSample(900, 50*time.Microsecond, map[int]int{200: 899, 500: 1}), Want: []int{200},
				Ceiling: ceiling, MinRatio: 0.8},
			ratio: 0.899, met: []bool{false, true},
		},
		{
			name: "a slow tail misses p99",
			row: row{Sample: timedSample(100, 2*time.Millisecond, map[int]int{201: 10, 409: 90}), Want: []int{201, 409},
				MaxP99: 100 * time.Millisecond},
			met: []bool{false},
		},
		{
			name: "only the counted answers make the rate",
			row: row{Sample: timedSample(100, time.Microsecond, map[int]int{200: 40, 429: 60}), Want: []int{200, 429}, Rate: 40,
				Ceiling: ceiling},
			ratio: 0.04,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.InDelta(t, c.ratio, c.row.ratio(), 0.0001)
			var met []bool
			for _, ch := range c.row.verdict() {
				met = append(met, ch.Met)
			}
			assert.Equal(t, c.met, met)
		})
	}
}

func TestEachRoundIsComparedWithTheCeilingsRoundBesideIt(t *testing.T) {
	r := row{
		Sample: &sample{Rounds: []*sample{
			timedSample(80, time.Microsecond, map[int]int{200: 80}),
			timedSample(50, time.Microsecond, map[int]int{200: 45, 500: 5}),
			timedSample(90, time.Microsecond, map[int]int{200: 90}),
		}},
		Want: []int{200},
		Ceiling: &sample{Rounds: []*sample{
			timedSample(100, time.Microsecond, nil),
			timedSample(50, time.Microsecond, nil),
			{Took: []time.Duration{1}, Errors: 1, Elapsed: time.Second}, // nothing succeeded: no ratio
		}},
	}
	assert.InDeltaSlice(t, []float64{0.8, 0.9}, r.roundRatios(), 0.0001)
	assert.InDelta(t, 0.85, median(r.roundRatios()), 0.0001)
	assert.InDelta(t, 2.0, median([]float64{3, 1, 2}), 0.0001)

	r.Rate = 10
	assert.Nil(t, r.roundRatios(), "a row that counts its rate otherwise has no per-round figure")
}
