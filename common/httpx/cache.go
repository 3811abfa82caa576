package httpx

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// NoStore is the Cache-Control of every response that is not a public read:
// what a session sees is that user's, and no shared cache, nor the browser's
// back button after signout, may keep it (middleware.CacheControl sets it).
const NoStore = "no-store"

// Snapshot is a public representation as it was read, with its validator:
// what WriteSnapshot answers a read with, from memory or just read.
type Snapshot struct {
	Body []byte
	// ETag is strong: it is the digest of Body, byte for byte.
	ETag string
	// ReadAt is when Body was read from the store.
	ReadAt time.Time
	// Kept says the answer comes from memory, not from a read made for it.
	Kept bool
}

// NewSnapshot takes body, read at readAt, and computes its ETag.
func NewSnapshot(body []byte, readAt time.Time) Snapshot {
	sum := sha256.Sum256(body)
	return Snapshot{Body: body, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`, ReadAt: readAt}
}

// WriteSnapshot answers a public read with s: 304 and no body when the
// request's If-None-Match names s's ETag, else 200 with s.Body as JSON. Both
// carry the ETag, `Cache-Control: public, max-age=<maxAge>` and, when s was
// kept in memory, `Age` in whole seconds rounded up: a cache that counts Age
// keeps the answer no longer than maxAge after the store was read, whatever
// time s spent in memory first. (An answer read for the request says no Age,
// as any origin's: it is as old as the read took.)
func WriteSnapshot(w http.ResponseWriter, r *http.Request, s Snapshot, maxAge time.Duration, now time.Time) {
	h := w.Header()
	h.Set("ETag", s.ETag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second)))
	if age := now.Sub(s.ReadAt); s.Kept && age > 0 {
		h.Set("Age", strconv.Itoa(int((age+time.Second-1)/time.Second)))
	}
	if NoneMatch(r.Header.Get("If-None-Match"), s.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.Body)
}

// NoneMatch reports whether an If-None-Match header (RFC 9110 §13.1.2) names
// etag, by the weak comparison that header uses: "*", or a list of entity
// tags one of which is etag with or without W/. A malformed header names
// nothing, so its request gets the full answer.
func NoneMatch(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	if header == "*" {
		return true
	}
	found := false
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if !validTag(tag) {
			return false
		}
		found = found || tag == strings.TrimPrefix(etag, "W/")
	}
	return found
}

// validTag reports whether tag is an opaque-tag: a quoted string of etagc
// characters (no quote, no control character, no space).
func validTag(tag string) bool {
	if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return false
	}
	for _, c := range []byte(tag[1 : len(tag)-1]) {
		if c == '"' || c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
