package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSideBySideNeedsTheOriginalNamed(t *testing.T) {
	o, err := parseOptions([]string{"-only", "side-by-side"}, env(map[string]string{
		"ORIGINAL_URL": "http://127.0.0.1:5290", "ORIGINAL_DATA_DIR": "/tmp/original"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:5290", o.OriginalURL)
	assert.Equal(t, "/tmp/original", o.OriginalDir)

	_, err = parseOptions([]string{"-only", "side-by-side"}, env(map[string]string{"ORIGINAL_URL": "http://127.0.0.1:5290"}), io.Discard)
	assert.ErrorContains(t, err, "ORIGINAL_URL and ORIGINAL_DATA_DIR", "a URL without the pid folder gives no CPU or memory")

	_, err = parseOptions(nil, env(map[string]string{"ORIGINAL_URL": "http://127.0.0.1:5290", "ORIGINAL_DATA_DIR": "/tmp/original"}), io.Discard)
	assert.ErrorContains(t, err, "-only side-by-side", "naming the original without the mode would be ignored silently")
}

func TestTheOriginalsProcessesAreNamedApart(t *testing.T) {
	got := prefixed(map[string]int{"auth": 10, "gateway": 11})
	assert.Equal(t, map[string]int{"original/auth": 10, "original/gateway": 11}, got)

	names := memoryNames(map[string]memory{
		"original/auth": {}, "auth": {}, "original/tickets": {}, "tickets": {}, "ferretdb": {}, "original/redis": {}, "gateway": {}, "original/gateway": {},
	})
	assert.Equal(t, []string{"auth", "tickets", "ferretdb", "gateway", "redis"}, names, "the services first, each once, whoever runs it")
}

func TestSideBySideFigures(t *testing.T) {
	s := &sample{Statuses: map[int]int{http.StatusOK: 90, http.StatusTooManyRequests: 10}, Elapsed: 2 * time.Second}
	s.Took = make([]time.Duration, 100)
	assert.InDelta(t, 45.0, served(s, http.StatusOK), 1e-9, "only the expected answers count")
	assert.Zero(t, served(nil, http.StatusOK))

	assert.InDelta(t, 2.5, ratio(250, 100), 1e-9)
	assert.Zero(t, ratio(250, 0), "no ratio to a route the original did not answer")
	assert.Equal(t, "2.50×", times(2.5))
	assert.Equal(t, "-", times(0))

	cpu := cpuAccount{"auth": 150 * time.Millisecond, "original/auth": 40 * time.Millisecond, selfName: 500 * time.Millisecond}
	assert.Equal(t, "1.900ms", machineCPU(cpu, s), "every process but the benchmark's own, per request")
	assert.Equal(t, "-", machineCPU(nil, s), "a seeding loop has no CPU account")

	r := sideRow{Want: http.StatusOK, Original: s, Ours: &sample{Statuses: map[int]int{http.StatusOK: 5}, Took: make([]time.Duration, 5)}}
	assert.Equal(t, 10, unexpected(r), "the 429s are unexpected, on either side")
}

func TestTheSessionCookieIsFoundByItsName(t *testing.T) {
	lines := []string{"other=1; path=/", "express:sess=eyJqd3Qi==; path=/; httponly"}
	assert.Equal(t, "eyJqd3Qi==", sessionCookie(lines, originalCookie), "a name net/http would skip, and a value with '='")
	assert.Equal(t, "abc", sessionCookie([]string{"session=abc; Path=/; HttpOnly"}, "session"))
	assert.Empty(t, sessionCookie(lines, "session"), "express:sess is not session")
	assert.Empty(t, sessionCookie([]string{"sessionx=1"}, "session"))
}

func TestSideBySideMemoryShowsWhatIsEachProcesssOwn(t *testing.T) {
	var out strings.Builder
	reading := func(rss, anon int64) memory { return memory{RSS: rss, HWM: rss, Anon: anon} }
	b := &sideBench{out: &out, memory: memoryReport{
		rest:  map[string]memory{"expiration": reading(28000, 3400), "original/expiration": reading(59000, 34000)},
		after: map[string]memory{"expiration": reading(30000, 4000), "original/expiration": reading(60000, 40000)},
	}}
	b.printMemory()
	text := out.String()
	assert.Contains(t, text, "0.47×", "resident at rest, ours over the original's")
	assert.Contains(t, text, "RssAnon")
	assert.Contains(t, text, "0.10×", "the process's own memory at rest, ours over the original's")
	assert.Contains(t, text, "33.2", "the original's own memory at rest, in MiB")
}
