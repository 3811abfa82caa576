package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
	"ticketing.dev/expiration/internal/store"
)

func TestTheMarkerIsWrittenOnlyByARebuildRedisKeptWhole(t *testing.T) {
	ctx := testenv.Context(t)
	_, rdb := newHolds(t)
	marker := store.NewMarker(rdb)

	present, err := marker.Present(ctx)
	require.NoError(t, err)
	assert.False(t, present, "a new Redis holds no schedule")

	rebuild, err := marker.BeginRebuild(ctx)
	require.NoError(t, err)
	done, err := marker.FinishRebuild(ctx, rebuild)
	require.NoError(t, err)
	assert.True(t, done)
	present, err = marker.Present(ctx)
	require.NoError(t, err)
	assert.True(t, present)

	require.NoError(t, rdb.FlushAll(ctx).Err())
	present, err = marker.Present(ctx)
	require.NoError(t, err)
	assert.False(t, present, "FLUSHALL takes the marker with the schedule")

	rebuild, err = marker.BeginRebuild(ctx)
	require.NoError(t, err)
	require.NoError(t, rdb.FlushAll(ctx).Err(), "Redis loses its data again while the rebuild writes")
	done, err = marker.FinishRebuild(ctx, rebuild)
	require.NoError(t, err)
	assert.False(t, done, "a rebuild whose writes were lost does not mark the schedule complete")
	present, err = marker.Present(ctx)
	require.NoError(t, err)
	assert.False(t, present)
}

func TestTheMarkerOfAnUnreachableRedisIsAnError(t *testing.T) {
	r := testenv.NewRedis(t, false)
	rdb := client(t, r)
	r.Stop(t)
	_, err := store.NewMarker(rdb).Present(testenv.Context(t))
	assert.Error(t, err, "an unreachable Redis is not taken for one that lost its data")
}

func TestTheMarkerOfAnotherRedisProcessDoesNotCount(t *testing.T) {
	ctx := testenv.Context(t)
	r := testenv.NewRedis(t, true)
	rdb := client(t, r)
	marker := store.NewMarker(rdb)
	rebuild, err := marker.BeginRebuild(ctx)
	require.NoError(t, err)
	done, err := marker.FinishRebuild(ctx, rebuild)
	require.NoError(t, err)
	require.True(t, done)

	r.Stop(t)
	r.Start(t)
	present, err := marker.Present(ctx)
	require.NoError(t, err)
	assert.False(t, present, "a restarted Redis may have lost its last writes")
	assert.Equal(t, int64(1), rdb.Exists(ctx, "expiration:epoch").Val(), "although its append-only file kept the marker")
}
