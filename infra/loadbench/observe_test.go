package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTheObservabilityComparisonIsJudgedOnThroughputAndSpans(t *testing.T) {
	off := timedSample(1000, 50*time.Microsecond, map[int]int{200: 1000})
	cases := []struct {
		name  string
		on    *sample
		spans int
		met   bool
		says  string
	}{
		{"within 5%", timedSample(960, 50*time.Microsecond, map[int]int{200: 960}), 3000, true, "0.960"},
		{"more than 5% slower", timedSample(940, 50*time.Microsecond, map[int]int{200: 940}), 3000, false, "0.940"},
		{"no span arrived: tracing was not on", timedSample(1000, 50*time.Microsecond, map[int]int{200: 1000}), 0, false, "1.000"},
		{"an answer other than 200", timedSample(1000, 50*time.Microsecond, map[int]int{200: 999, 503: 1}), 3000, false, "0.999"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		met := reportObservability(&out, observedRun{off: off, on: c.on, offCPU: time.Second, onCPU: time.Second, spans: c.spans})
		assert.Equal(t, c.met, met, c.name)
		assert.Contains(t, out.String(), "on/off throughput: "+c.says, c.name)
		assert.Regexp(t, `tracing and metrics off +1000 `, out.String(), c.name)
	}
}
