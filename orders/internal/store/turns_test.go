package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A turn held too long is waited for only up to the bound; the one who went
// on without it does not end the holder's turn, and the queue goes once
// everybody has left.
func TestATurnHeldTooLongIsNotWaitedOutAndStaysItsHolders(t *testing.T) {
	var q turns
	ctx := context.Background()
	first, err := q.wait(ctx, "ticket", time.Hour)
	require.NoError(t, err)

	second, err := q.wait(ctx, "ticket", 10*time.Millisecond)
	require.NoError(t, err, "gone on without its turn")
	second()
	third := make(chan func(), 1)
	go func() {
		done, err := q.wait(ctx, "ticket", time.Hour)
		assert.NoError(t, err)
		third <- done
	}()
	select {
	case <-third:
		t.Fatal("the second's done ended the first's turn")
	case <-time.After(50 * time.Millisecond):
	}
	first()
	(<-third)()
	assert.Empty(t, q.queues, "no queue is kept for a ticket nobody waits on")

	other, err := q.wait(ctx, "another ticket", time.Hour)
	require.NoError(t, err, "another ticket's turn does not wait on this one's")
	other()
}

// A request that ends while waiting leaves the queue with its context's error.
func TestAWaitEndsWithItsRequest(t *testing.T) {
	var q turns
	held, err := q.wait(context.Background(), "ticket", time.Hour)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = q.wait(ctx, "ticket", time.Hour)
	require.ErrorIs(t, err, context.Canceled)
	held()
	assert.Empty(t, q.queues)
}
