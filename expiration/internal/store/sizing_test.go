package store_test

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/expiry"
)

// bytesPerHoldBudget is what docs/kubernetes.md ("Redis in production") sizes
// Redis's maxmemory with: one job per order, kept for the 24 h retention after
// it ran. A job that grows past it makes the cap too small for a day.
const bytesPerHoldBudget = 1024

func usedMemory(t *testing.T, rdb redis.UniversalClient) int {
	t.Helper()
	info, err := rdb.Info(testenv.Context(t), "memory").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}

func TestAHoldTakesNoMoreRedisMemoryThanTheSizingAssumes(t *testing.T) {
	ctx := testenv.Context(t)
	holds, rdb := newHolds(t)
	// One first, so the queue's own keys are not counted per hold.
	require.NoError(t, holds.Schedule(ctx, expiry.Hold{OrderID: objectID(), ExpiresAt: time.Now().Add(time.Hour)}))
	before := usedMemory(t, rdb)
	const n = 2000
	for range n {
		// Order ids are ObjectIDs; the window is DESIGN.md's 15 minutes.
		h := expiry.Hold{OrderID: objectID(), ExpiresAt: time.Now().Add(15 * time.Minute)}
		require.NoError(t, holds.Schedule(ctx, h))
	}
	perHold := (usedMemory(t, rdb) - before) / n
	t.Logf("Redis memory per scheduled hold: %d bytes", perHold)
	assert.Positive(t, perHold)
	assert.LessOrEqual(t, perHold, bytesPerHoldBudget)
}

// objectID is an order id's shape: 24 hex digits.
func objectID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
