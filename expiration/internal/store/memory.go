package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Memory reads what Redis uses and its cap from INFO memory: used_memory and
// maxmemory, in bytes (maxmemory 0: no cap). Through a Sentinel failover
// client it is the current primary's, the server every write goes to and
// the one whose cap refuses them (metrics.RedisMemory).
func Memory(rdb redis.UniversalClient) func(ctx context.Context) (used, limit int64, err error) {
	return func(ctx context.Context) (int64, int64, error) {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			return 0, 0, fmt.Errorf("reading Redis's memory: %w", err)
		}
		var values [2]int64
		for i, field := range []string{"used_memory", "maxmemory"} {
			if values[i], err = strconv.ParseInt(infoField(info, field), 10, 64); err != nil {
				return 0, 0, fmt.Errorf("reading Redis's memory: INFO memory has no %s", field)
			}
		}
		return values[0], values[1], nil
	}
}
