package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Backlog counts the events the relay's outboxes hold unpublished and finds
// when the oldest of them occurred, for the metrics scrape. It reads the
// hint collections, never the outboxes' own: a hint is one small entry per
// pending event, so what it costs follows the backlog, on FerretDB (which
// scans whatever the filter) as on MongoDB. A hint whose write failed counts
// until HintGrace deletes it: a backlog that stays above zero with no
// traffic is such a write, or a broker that is away.
func (r *Relay) Backlog(ctx context.Context) (pending int, oldest time.Time, err error) {
	for _, hints := range r.hints {
		n, err := hints.CountDocuments(ctx, bson.M{})
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("counting hints: %w", err)
		}
		pending += int(n)
		if n == 0 {
			continue
		}
		var first hint
		err = hints.FindOne(ctx, bson.M{}, options.FindOne().SetSort(bson.D{{Key: "at", Value: 1}})).Decode(&first)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // published since the count
		}
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("reading the oldest hint: %w", err)
		}
		if oldest.IsZero() || first.At.Before(oldest) {
			oldest = first.At
		}
	}
	return pending, oldest, nil
}
