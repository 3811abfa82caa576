package mongox_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/mongox"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func connect(t *testing.T, uri, defaultDB string) *mongo.Database {
	t.Helper()
	client, db, err := mongox.Connect(testenv.Context(t), uri, defaultDB)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return db
}

func TestConnectUsesTheDatabaseTheURINames(t *testing.T) {
	uri := testenv.DatabaseURI(t)
	db := connect(t, uri, "fallback")
	assert.NotEqual(t, "fallback", db.Name())
	assert.Contains(t, uri, "/"+db.Name())
	require.NoError(t, mongox.Ping(db)(testenv.Context(t)))
}

func TestConnectFallsBackToTheDefaultDatabase(t *testing.T) {
	db := connect(t, testenv.MongoURI(t), "tickets")
	assert.Equal(t, "tickets", db.Name())
}

func TestConnectRefusesAMalformedURI(t *testing.T) {
	_, _, err := mongox.Connect(context.Background(), "postgres://db", "x")
	assert.ErrorContains(t, err, "MONGO_URI")
}

func TestIsDuplicateKey(t *testing.T) {
	ctx := testenv.Context(t)
	coll := testenv.NewDatabase(t).Collection("users")
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)})
	require.NoError(t, err)
	_, err = coll.InsertOne(ctx, bson.M{"email": "a@b.c"})
	require.NoError(t, err)

	_, err = coll.InsertOne(ctx, bson.M{"email": "a@b.c"})
	require.Error(t, err)
	assert.True(t, mongox.IsDuplicateKey(err))
	assert.False(t, mongox.IsUnavailable(err))
}

func TestIsUnavailable(t *testing.T) {
	port, err := testenv.FreePort()
	require.NoError(t, err)
	db := connect(t, fmt.Sprintf("mongodb://127.0.0.1:%d/x", port), "x")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = db.Collection("c").InsertOne(ctx, bson.M{"a": 1})
	require.Error(t, err)
	assert.True(t, mongox.IsUnavailable(err), "%v", err)
	assert.False(t, mongox.IsDuplicateKey(err))
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"6650a1b2c3d4e5f601234567", true},
		{"6650A1B2C3D4E5F601234567", true},
		{"", false},
		{"not-an-id", false},
		{"6650a1b2c3d4e5f60123456", false},
		{"6650a1b2c3d4e5f6012345678", false},
		{"6650a1b2c3d4e5f60123456z", false},
	} {
		id, ok := mongox.ParseID(tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
		if ok {
			assert.Equal(t, strings.ToLower(tc.in), id.Hex())
		}
	}
}

// Every restart creates indexes that exist already. Two of them in one
// createIndexes call make FerretDB drop the connection; EnsureIndexes must not.
func TestEnsureIndexesTwiceIsANoOp(t *testing.T) {
	ctx := testenv.Context(t)
	coll := testenv.NewDatabase(t).Collection("things")
	models := []mongo.IndexModel{
		{Keys: bson.D{{Key: "a", Value: 1}}, Options: options.Index().SetUnique(true).SetName("a_unique")},
		{Keys: bson.D{{Key: "b", Value: 1}, {Key: "c", Value: -1}}, Options: options.Index().SetName("b_c")},
	}
	require.NoError(t, mongox.EnsureIndexes(ctx, coll, models...))
	require.NoError(t, mongox.EnsureIndexes(ctx, coll, models...), "as on a restart")

	_, err := coll.InsertOne(ctx, bson.M{"a": 1})
	require.NoError(t, err)
	_, err = coll.InsertOne(ctx, bson.M{"a": 1})
	assert.True(t, mongox.IsDuplicateKey(err), "the unique index is in force: %v", err)
}
