package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/httpx"
)

func TestNoneMatchComparesWeaklyAndIgnoresAMalformedHeader(t *testing.T) {
	const etag = `"abc"`
	for header, want := range map[string]bool{
		``:                     false,
		`*`:                    true,
		`"abc"`:                true,
		`W/"abc"`:              true,
		`"x", "abc"`:           true,
		` "x" ,W/"abc" `:       true,
		`"abd"`:                false,
		`abc`:                  false, // unquoted
		`"abc`:                 false,
		`"x", abc`:             false,
		`"abc", garbage`:       false, // a malformed list names nothing
		`"a"b"`:                false,
		`"ab c"`:               false,
		`"abc"; "x"`:           false,
		"\"abc\"\x00":          false,
		`"x", "y", "z", "abc"`: true,
	} {
		assert.Equal(t, want, httpx.NoneMatch(header, etag), "If-None-Match: %q", header)
	}
}

func TestWriteSnapshotAnswers304WithNoBodyAndSaysHowOldItIs(t *testing.T) {
	readAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := httpx.NewSnapshot([]byte(`{"a":1}`+"\n"), readAt)
	assert.Equal(t, s.ETag, httpx.NewSnapshot([]byte(`{"a":1}`+"\n"), readAt.Add(time.Hour)).ETag, "the tag is the body's")
	assert.NotEqual(t, s.ETag, httpx.NewSnapshot([]byte(`{"a":2}`+"\n"), readAt).ETag)

	answer := func(inm string, kept bool, now time.Time) *httptest.ResponseRecorder {
		s := s
		s.Kept = kept
		r := httptest.NewRequest("GET", "/x", nil)
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		w := httptest.NewRecorder()
		httpx.WriteSnapshot(w, r, s, 2*time.Second, now)
		return w
	}
	fresh := answer("", false, readAt.Add(5*time.Millisecond))
	assert.Equal(t, http.StatusOK, fresh.Code)
	assert.Equal(t, `{"a":1}`+"\n", fresh.Body.String())
	assert.Equal(t, s.ETag, fresh.Header().Get("ETag"))
	assert.Equal(t, "public, max-age=2", fresh.Header().Get("Cache-Control"))
	assert.Empty(t, fresh.Header().Get("Age"), "read for this request: as old as the read took")

	kept := answer(s.ETag, true, readAt.Add(100*time.Millisecond))
	assert.Equal(t, http.StatusNotModified, kept.Code)
	assert.Empty(t, kept.Body.String())
	assert.Equal(t, s.ETag, kept.Header().Get("ETag"))
	assert.Equal(t, "1", kept.Header().Get("Age"), "a tenth of a second in memory is counted as a whole one")

	stale := answer(`"another"`, true, readAt.Add(1500*time.Millisecond))
	assert.Equal(t, http.StatusOK, stale.Code)
	assert.Equal(t, "2", stale.Header().Get("Age"))
	assert.Equal(t, `{"a":1}`+"\n", stale.Body.String())
}
