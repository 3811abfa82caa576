package store

import (
	"context"
	"sync"
	"time"
)

// turns lets the reservations of one ticket in this process run one at a
// time, in the order they arrive.
//
// In a flash sale ten buyers ask for each ticket at once. Run side by side,
// each reads the replica before the winner's hold has landed, takes an
// open-order slot, tries the hold, loses and frees the slot again: three
// writes per loser, queued behind the winner's on the same collections. In
// turn, every buyer after the first finds the hold placed and is refused
// with one read (refusedEarly). Nothing here decides who wins: the
// conditional hold still does, across every process.
type turns struct {
	mu     sync.Mutex
	queues map[string]*turn
}

// turn is one ticket's queue: a one-slot semaphore and how many requests
// are in it.
type turn struct {
	slot chan struct{}
	refs int
}

// wait returns once it is the caller's turn at key, or after longest if the
// turn ahead is that slow (a database outage, most likely: queued one behind
// another, ten buyers would each wait out the one before). Then the caller
// goes on without its turn, as it would have without turns at all. It
// returns ctx's error if ctx ends first. The caller calls done after a nil
// error, when it is through.
func (t *turns) wait(ctx context.Context, key string, longest time.Duration) (done func(), err error) {
	t.mu.Lock()
	if t.queues == nil {
		t.queues = map[string]*turn{}
	}
	q, ok := t.queues[key]
	if !ok {
		q = &turn{slot: make(chan struct{}, 1)}
		t.queues[key] = q
	}
	q.refs++
	t.mu.Unlock()
	timer := time.NewTimer(longest)
	defer timer.Stop()
	select {
	case q.slot <- struct{}{}:
		return func() { <-q.slot; t.leave(key, q) }, nil
	case <-timer.C:
		return func() { t.leave(key, q) }, nil
	case <-ctx.Done():
		t.leave(key, q)
		return nil, ctx.Err()
	}
}

// leave drops the ticket's queue once nobody is in it.
func (t *turns) leave(key string, q *turn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if q.refs--; q.refs == 0 {
		delete(t.queues, key)
	}
}
