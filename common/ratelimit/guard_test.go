package ratelimit_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/ratelimit"
)

// Only the hop the trusted proxy appended counts: a client can write any
// X-Forwarded-For it likes, and must not get a fresh bucket per request.
func TestClientAddressTrustsOnlyTheLastHop(t *testing.T) {
	r := httptest.NewRequest("POST", "/api/orders", nil)
	r.RemoteAddr = "10.0.0.9:51234"
	r.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.2")
	assert.Equal(t, "198.51.100.2", ratelimit.ClientAddress(r, true))
	assert.Equal(t, "10.0.0.9", ratelimit.ClientAddress(r, false), "without a proxy the header is the client's own")

	r.Header.Set("X-Forwarded-For", "not-an-address")
	assert.Equal(t, "10.0.0.9", ratelimit.ClientAddress(r, true))
}
