package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis can lose the schedule without expiration noticing anything else:
// FLUSHALL, a restart without its append-only file, a new empty volume, or,
// with the file, a crash that loses the writes of its last second. The marker
// is a key written only once the schedule in Redis is known to be complete,
// and it holds the run id of the Redis process it was written in. A Redis
// without it, or with another process's run id (it restarted since, and may
// have lost its last writes), holds no schedule one can trust, and expiration
// rebuilds it from the order events (see internal/rebuild).

const (
	// markerKey holds the run id of the Redis process whose schedule was last
	// known complete.
	markerKey = "expiration:epoch"
	// rebuildKeyPrefix names the note a rebuild leaves when it starts. If
	// Redis loses its data again while the rebuild runs, the note goes too,
	// and the rebuild knows not to write the marker over a schedule that lost
	// what it had just put in.
	rebuildKeyPrefix = "expiration:rebuild:"
	// rebuildNoteTTL lets the note of a rebuild whose process died vanish.
	rebuildNoteTTL = time.Hour
	// asynqQueuesKey is the set in which asynq registers its queues. A client
	// adds a queue to it only on its first enqueue, so after Redis lost its
	// data the long-lived client never adds it again, and the inspector then
	// answers "queue not found" for every job: Cancel would find nothing to
	// cancel. A rebuild registers the queue itself. (The cancellation test
	// after a loss fails if asynq ever renames the key.)
	asynqQueuesKey = "asynq:queues"
)

// finishRebuild sets the marker if, and only if, the rebuild's note is still
// there, in one step so no loss of data can fall between the two.
var finishRebuild = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('SET', KEYS[2], ARGV[1])
  return 1
end
return 0
`)

// Marker tells whether Redis still holds expiration's schedule.
type Marker struct{ rdb redis.UniversalClient }

// NewMarker uses rdb; the caller closes it.
func NewMarker(rdb redis.UniversalClient) *Marker { return &Marker{rdb: rdb} }

// Present reports whether Redis holds a schedule it has not lost since it was
// last complete: the marker is there, written by the Redis process running now.
func (m *Marker) Present(ctx context.Context) (bool, error) {
	var marker, info *redis.StringCmd
	// The errors are the commands' own, read below.
	_, _ = m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		marker = p.Get(ctx, markerKey)
		info = p.Info(ctx, "server")
		return nil
	})
	for _, err := range []error{info.Err(), marker.Err()} {
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, fmt.Errorf("checking the schedule marker: %w", err)
		}
	}
	running, err := runID(info.Val())
	if err != nil {
		return false, err
	}
	return marker.Err() == nil && marker.Val() == running, nil
}

// runID reads the run id, which Redis draws anew each time it starts, from
// INFO server.
func runID(info string) (string, error) {
	if id := infoField(info, "run_id"); id != "" {
		return id, nil
	}
	return "", errors.New("checking the schedule marker: INFO server has no run_id")
}

// infoField is the value of field in an INFO reply; "" when it has none.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// Rebuild is one rebuild of the schedule under way.
type Rebuild struct {
	note string
	// runID is the Redis process the rebuild writes to. Should Redis restart
	// and keep the note, the marker then names the old process, and the next
	// check rebuilds again.
	runID string
}

// BeginRebuild notes in Redis that a rebuild starts now, and registers the
// holds' queue again.
func (m *Marker) BeginRebuild(ctx context.Context) (Rebuild, error) {
	info, err := m.rdb.Info(ctx, "server").Result()
	if err != nil {
		return Rebuild{}, fmt.Errorf("noting a rebuild of the schedule: %w", err)
	}
	id, err := runID(info)
	if err != nil {
		return Rebuild{}, err
	}
	r := Rebuild{note: rebuildKeyPrefix + uuid.NewString(), runID: id}
	_, err = m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.note, time.Now().UTC().Format(time.RFC3339Nano), rebuildNoteTTL)
		p.SAdd(ctx, asynqQueuesKey, Queue)
		return nil
	})
	if err != nil {
		return Rebuild{}, fmt.Errorf("noting a rebuild of the schedule: %w", err)
	}
	return r, nil
}

// FinishRebuild writes the marker, unless Redis lost its data since
// BeginRebuild; it reports whether it wrote it.
func (m *Marker) FinishRebuild(ctx context.Context, r Rebuild) (bool, error) {
	n, err := finishRebuild.Run(ctx, m.rdb, []string{r.note, markerKey}, r.runID).Int()
	if err != nil {
		return false, fmt.Errorf("writing the schedule marker: %w", err)
	}
	return n == 1, nil
}
