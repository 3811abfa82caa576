package testenv_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/testenv"
)

func proxiedCollection(t *testing.T) (*mongo.Collection, *mongo.Collection, *testenv.FaultProxy) {
	t.Helper()
	uri, proxy := testenv.ProxiedDatabaseURI(t)
	u, err := url.Parse(uri)
	require.NoError(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	through, err := mongo.Connect(context.Background(), options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(2*time.Second).SetTimeout(2*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = through.Disconnect(context.Background()) })
	direct, err := mongo.Connect(context.Background(), options.Client().ApplyURI(testenv.MongoURI(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = direct.Disconnect(context.Background()) })
	return through.Database(name).Collection("docs"), direct.Database(name).Collection("docs"), proxy
}

// The fault the store tests are built on: the server carries the write out,
// the client hears only a network error.
func TestFaultProxyLosesTheAnswerNotTheWrite(t *testing.T) {
	ctx := testenv.Context(t)
	coll, direct, proxy := proxiedCollection(t)
	require.NoError(t, coll.Database().Client().Ping(ctx, nil))

	proxy.LoseAnswer("insert", 1)
	_, err := coll.InsertOne(ctx, bson.M{"_id": "lost", "n": 1})
	require.Error(t, err)
	assert.True(t, mongo.IsNetworkError(err), "a lost answer is a network error to the client: %v", err)
	assert.Equal(t, 1, proxy.Lost())

	n, err := direct.CountDocuments(ctx, bson.M{"_id": "lost"})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the server stored what the client was never told about")

	// Only the one answer was lost: the next insert goes through.
	_, err = coll.InsertOne(ctx, bson.M{"_id": "kept"})
	require.NoError(t, err)
	// A duplicate of the lost insert is what a blind retry meets.
	_, err = coll.InsertOne(ctx, bson.M{"_id": "lost"})
	assert.True(t, mongo.IsDuplicateKeyError(err), "%v", err)
}

func TestFaultProxyCutRefusesUntilRestored(t *testing.T) {
	ctx := testenv.Context(t)
	coll, _, proxy := proxiedCollection(t)
	require.NoError(t, coll.Database().Client().Ping(ctx, nil))

	proxy.Cut()
	_, err := coll.InsertOne(ctx, bson.M{"_id": "during"})
	require.Error(t, err, "nothing reaches the server while it is cut off")

	proxy.Restore()
	require.Eventually(t, func() bool {
		_, err := coll.InsertOne(ctx, bson.M{"_id": "after"})
		return err == nil
	}, 20*time.Second, 50*time.Millisecond)
}

func TestFaultProxyStallTimesOutThenResumes(t *testing.T) {
	ctx := testenv.Context(t)
	coll, direct, proxy := proxiedCollection(t)
	require.NoError(t, coll.Database().Client().Ping(ctx, nil))

	proxy.Stall()
	// A deadline of the caller's own: the driver's Timeout yields to it.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := coll.InsertOne(short, bson.M{"_id": "stalled"})
	require.Error(t, err)
	assert.True(t, mongo.IsTimeout(err) || mongo.IsNetworkError(err), "a hung network is a timeout: %v", err)
	n, err := direct.CountDocuments(ctx, bson.M{"_id": "stalled"})
	require.NoError(t, err)
	assert.Zero(t, n, "a stalled request never reached the server")

	proxy.Resume()
	require.Eventually(t, func() bool {
		_, err := coll.InsertOne(ctx, bson.M{"_id": "resumed"})
		return err == nil
	}, 20*time.Second, 50*time.Millisecond)
}

func TestFaultProxyDelaysEveryMessage(t *testing.T) {
	ctx := testenv.Context(t)
	coll, _, proxy := proxiedCollection(t)
	require.NoError(t, coll.Database().Client().Ping(ctx, nil))

	proxy.Delay(300 * time.Millisecond)
	start := time.Now()
	require.NoError(t, coll.Database().Client().Ping(ctx, nil))
	assert.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond, "request and answer are each held")
	proxy.Delay(0)
}

// A request writes to several collections (an outbox hint, then the
// document): a fault aimed at one collection leaves the others alone.
func TestFaultProxyAimsAtOneCollection(t *testing.T) {
	ctx := testenv.Context(t)
	coll, direct, proxy := proxiedCollection(t)
	other := coll.Database().Collection("others")
	require.NoError(t, coll.Database().Client().Ping(ctx, nil))

	proxy.LoseAnswerOn("insert", "docs", 1)
	_, err := other.InsertOne(ctx, bson.M{"_id": "spared"})
	require.NoError(t, err, "an insert into another collection is not aimed at")
	_, err = coll.InsertOne(ctx, bson.M{"_id": "aimed"})
	require.Error(t, err)
	n, err := direct.CountDocuments(ctx, bson.M{"_id": "aimed"})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)

	proxy.StallAt("insert", "docs")
	_, err = other.InsertOne(ctx, bson.M{"_id": "before"})
	require.NoError(t, err, "the stall waits for its command")
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = coll.InsertOne(short, bson.M{"_id": "held"})
	require.Error(t, err)
	proxy.Resume()
	require.Eventually(t, func() bool {
		n, err := direct.CountDocuments(ctx, bson.M{"_id": "held"})
		return err == nil && n == 1
	}, 20*time.Second, 50*time.Millisecond, "the held insert lands once the network recovers")
}
