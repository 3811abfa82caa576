package service

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.mongodb.org/mongo-driver/mongo"
)

// redisReply has the shape of go-redis's error replies.
type redisReply string

func (r redisReply) Error() string { return string(r) }
func (redisReply) RedisError()     {}

func TestStoreOutagesAreTransientAndBugsAreNot(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"mongo: no server":        {fmt.Errorf("finding ticket: %w", mongo.ErrClientDisconnected), true},
		"mongo: primary stepped":  {mongo.WriteException{Labels: []string{"RetryableWriteError"}}, true},
		"mongo: duplicate key":    {mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, false},
		"redis: loading":          {fmt.Errorf("scheduling: %w", redisReply("LOADING Redis is loading the dataset in memory")), true},
		"redis: maxmemory":        {redisReply("OOM command not allowed when used memory > 'maxmemory'"), true},
		"redis: wrong type":       {redisReply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		"a listener's own error":  {errors.New("order for an unknown ticket"), false},
		"a plain error that says": {errors.New("LOADING"), false},
	} {
		assert.Equal(t, tc.want, storeUnavailable(tc.err), name)
	}
}
