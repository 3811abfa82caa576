package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// An order expires when expiration's job fires (expiration:complete). That
// job lives in Redis, and Redis can lose it — a crash inside AOF's one-second
// window, a lost volume, a job archived after its retries, writes refused at
// maxmemory — and so can the event that would have scheduled it. Without a
// backstop the ticket would then be held for ever and never paid for. Lapse
// is that backstop, on orders' own data: every check interval it cancels the
// orders still created past their expiresAt, exactly as expiration:complete
// does. So an order lapses at most one check interval after its window,
// whatever happened to Redis; when expiration is healthy it got there first
// and the lapse finds nothing.

// DefaultExpiryCheckInterval is how often Lapser looks for overdue orders
// (ORDER_EXPIRY_CHECK_INTERVAL): how late, at most, an order whose
// expiration never came is cancelled.
const DefaultExpiryCheckInterval = 5 * time.Second

// lapseBatch bounds one read of overdue orders; lapseWorkers is how many of
// them are cancelled at once, so that a batch (every order reserved in the
// same rush expires in the same pass) lapses in a few round trips' time, not
// in a hundred one after the other.
const (
	lapseBatch   = 100
	lapseWorkers = 8
)

// Lapse cancels every order still created after its expiresAt, releasing its
// hold and recording order:cancelled, and reports how many it cancelled.
func (s *Store) Lapse(ctx context.Context) (int, error) {
	now := s.now().UTC()
	lapsed := 0
	for {
		cur, err := s.orders.Find(ctx, bson.M{"status": events.StatusCreated, "expiresAt": bson.M{"$lt": now}},
			options.Find().SetProjection(bson.M{"_id": 1}).SetSort(bson.M{"expiresAt": 1}).SetLimit(lapseBatch))
		if err != nil {
			return lapsed, fmt.Errorf("finding overdue orders: %w", err)
		}
		var overdue []struct {
			ID primitive.ObjectID `bson:"_id"`
		}
		if err := cur.All(ctx, &overdue); err != nil {
			return lapsed, fmt.Errorf("finding overdue orders: %w", err)
		}
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
			free = make(chan struct{}, lapseWorkers)
		)
		for _, o := range overdue {
			free <- struct{}{}
			wg.Go(func() {
				defer func() { <-free }()
				expired, err := s.Expire(ctx, o.ID.Hex())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, order.ErrComplete):
					// Paid just in time.
				case err != nil:
					errs = append(errs, err)
				default:
					lapsed++
					if s.lapsed != nil {
						s.lapsed(s.now().Sub(expired.ExpiresAt))
					}
				}
			})
		}
		wg.Wait()
		// A batch with failures is not read again at once: the same orders
		// would come first again. The next interval retries them.
		if len(overdue) < lapseBatch || len(errs) > 0 {
			return lapsed, errors.Join(errs...)
		}
	}
}

// Expire cancels an order on expiry, unless it is complete
// (order.ErrComplete): what expiration:complete and Lapse both do.
func (s *Store) Expire(ctx context.Context, id string) (order.Order, error) {
	return s.Cancel(ctx, id, func(order.Order) error { return nil })
}

// OnLapse has Lapse tell lapsed how late, after its expiry, each order it
// expires was: the metrics of holds whose expiration never came.
func (s *Store) OnLapse(lapsed func(late time.Duration)) *Store {
	s.lapsed = lapsed
	return s
}

// Lapser runs Lapse every interval until ctx ends, as background work.
func (s *Store) Lapser(logger *slog.Logger, interval time.Duration) func(context.Context) error {
	return every(interval, func(ctx context.Context) {
		n, err := s.Lapse(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Warn("lapsing overdue orders", "err", err)
		}
		if n > 0 {
			logger.Info("lapsed overdue orders whose expiration did not come", "count", n)
		}
	})
}
