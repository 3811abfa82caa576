package ratelimit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/ratelimit"
)

func TestBurstThenRefill(t *testing.T) {
	l := ratelimit.New(2, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ok, _ := l.Allow("k", now)
	assert.True(t, ok)
	ok, _ = l.Allow("k", now)
	assert.True(t, ok)
	ok, wait := l.Allow("k", now)
	assert.False(t, ok)
	assert.InDelta(t, time.Minute, wait, float64(time.Second))

	ok, _ = l.Allow("other", now)
	assert.True(t, ok, "keys are independent")

	ok, _ = l.Allow("k", now.Add(61*time.Second))
	assert.True(t, ok, "one attempt comes back after the interval")
	ok, _ = l.Allow("k", now.Add(61*time.Second))
	assert.False(t, ok)
}

func TestRefusedAttemptsDoNotPushTheNextOneBack(t *testing.T) {
	l := ratelimit.New(1, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.Allow("k", now)
	for i := range 10 {
		ok, _ := l.Allow("k", now.Add(time.Duration(i)*time.Second))
		assert.False(t, ok)
	}
	ok, _ := l.Allow("k", now.Add(time.Minute))
	assert.True(t, ok)
}

func TestForgetGivesTheKeyAFullBucket(t *testing.T) {
	l := ratelimit.New(2, time.Hour)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.Allow("k", now)
	l.Allow("k", now)
	l.Allow("other", now)
	l.Allow("other", now)
	l.Forget("k")
	for range 2 {
		ok, _ := l.Allow("k", now)
		assert.True(t, ok)
	}
	ok, _ := l.Allow("other", now)
	assert.False(t, ok, "other keys keep their count")
}
