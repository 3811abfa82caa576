package mongox_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
)

// Only the server's own "no" is a refusal; everything that leaves the
// outcome open is not, whatever the server did.
func TestIsRefusedOnlyForTheServersDefiniteNo(t *testing.T) {
	ctx := testenv.Context(t)
	uri, proxy := testenv.ProxiedDatabaseURI(t)
	coll := connect(t, uri, "unused").Collection("docs")
	_, err := coll.InsertOne(ctx, bson.M{"_id": "taken"})
	require.NoError(t, err)

	_, err = coll.InsertOne(ctx, bson.M{"_id": "taken"})
	assert.True(t, mongox.IsRefused(err), "a duplicate key: %v", err)

	_, err = coll.InsertOne(ctx, bson.M{"$bad": 1})
	assert.True(t, mongox.IsRefused(err), "an invalid document: %v", err)
	n, err := coll.CountDocuments(ctx, bson.M{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "neither refused write was applied")

	proxy.LoseAnswer("insert", 1)
	_, err = coll.InsertOne(ctx, bson.M{"_id": "stored"})
	require.Equal(t, 1, proxy.Lost())
	assert.False(t, mongox.IsRefused(err), "a lost answer, though the insert was stored: %v", err)

	proxy.Cut()
	_, err = coll.InsertOne(ctx, bson.M{"_id": "never"})
	require.Error(t, err)
	assert.False(t, mongox.IsRefused(err), "unreachable: %v", err)
	proxy.Restore()

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = coll.InsertOne(cancelled, bson.M{"_id": "cancelled"})
	require.Error(t, err)
	assert.False(t, mongox.IsRefused(err), "a cancelled request: %v", err)
	assert.False(t, mongox.IsRefused(nil))
}
