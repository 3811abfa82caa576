package mongox_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
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

func TestConnectWritesWithMajorityAndJournal(t *testing.T) {
	db := connect(t, testenv.DatabaseURI(t), "x")
	wc := db.WriteConcern()
	assert.Equal(t, "majority", wc.W)
	require.NotNil(t, wc.Journal)
	assert.True(t, *wc.Journal)
}

func TestTheURIsWriteConcernTakesPrecedence(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		query   string
		w       any
		journal *bool
	}{
		{"w=1", 1, &yes},
		{"w=2", 2, &yes},
		{"journal=false", "majority", &no},
		{"w=1&journal=false", 1, &no},
		// An unacknowledged write cannot wait for the journal; the driver
		// refuses the combination.
		{"w=0", 0, nil},
		{"wtimeoutMS=500", "majority", &yes},
	} {
		t.Run(tc.query, func(t *testing.T) {
			wc := mongox.ClientOptions("mongodb://127.0.0.1:1/x?" + tc.query).WriteConcern
			assert.Equal(t, tc.w, wc.W)
			assert.Equal(t, tc.journal, wc.Journal)
		})
	}
}

// commands records the commands a client sends, by name.
type commands struct {
	mu   sync.Mutex
	sent map[string][]bson.Raw
}

func (c *commands) monitor() *event.CommandMonitor {
	c.sent = map[string][]bson.Raw{}
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.sent[e.CommandName] = append(c.sent[e.CommandName], e.Command)
	}}
}

func (c *commands) named(name string) []bson.Raw {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[name]
}

// FerretDB (tests, local runs) must take the durable write concern and the
// majority read concern on every kind of command the stores send, not refuse
// them; each command here must also really carry them.
func TestEveryCommandCarriesTheConcernsAndTheServerAcceptsThem(t *testing.T) {
	ctx := testenv.Context(t)
	var sent commands
	client, err := mongo.Connect(ctx, mongox.ClientOptions(testenv.MongoURI(t)).SetMonitor(sent.monitor()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	coll := client.Database(testenv.RandomName("durable")).Collection("things")
	t.Cleanup(func() { _ = coll.Database().Drop(context.Background()) })

	require.NoError(t, mongox.EnsureIndexes(ctx, coll, mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}}))
	_, err = coll.InsertOne(ctx, bson.M{"_id": 1, "n": 1})
	require.NoError(t, err)
	_, err = coll.UpdateOne(ctx, bson.M{"_id": 1}, bson.M{"$inc": bson.M{"n": 1}})
	require.NoError(t, err)
	require.NoError(t, coll.FindOneAndUpdate(ctx, bson.M{"_id": 1}, bson.M{"$inc": bson.M{"n": 1}}).Err())
	_, err = coll.BulkWrite(ctx, []mongo.WriteModel{mongo.NewInsertOneModel().SetDocument(bson.M{"_id": 2, "n": 1})})
	require.NoError(t, err)

	majority := mongox.MajorityReads(coll)
	var got struct{ N int }
	require.NoError(t, majority.FindOne(ctx, bson.M{"_id": 1}).Decode(&got))
	assert.Equal(t, 3, got.N, "a majority read sees the acknowledged writes")
	// Checked below with the other deletes: its writes stay durable.
	_, err = majority.DeleteOne(ctx, bson.M{"_id": 2})
	require.NoError(t, err)

	for _, name := range []string{"createIndexes", "insert", "update", "findAndModify", "delete"} {
		cmds := sent.named(name)
		require.NotEmpty(t, cmds, name)
		for _, cmd := range cmds {
			var wc struct {
				W any
				J bool
			}
			require.NoError(t, cmd.Lookup("writeConcern").Unmarshal(&wc), "%s: %s", name, cmd)
			assert.Equal(t, "majority", wc.W, name)
			assert.True(t, wc.J, name)
		}
	}
	finds := sent.named("find")
	require.Len(t, finds, 1)
	assert.Equal(t, "majority", finds[0].Lookup("readConcern", "level").StringValue())
}

// clearedPool is the driver's error for an operation that found its
// connection pool cleared by another operation's network error (the
// driver's own type is unexported): "connection pool for 127.0.0.1:46033
// was cleared because another operation failed with: … EOF".
type clearedPool struct{}

func (clearedPool) Error() string   { return "connection pool was cleared" }
func (clearedPool) Retryable() bool { return true }

// Seen under -race in auth's database-outage test: the second request of an
// outage got the pool-cleared error, and answered 500 instead of 503.
func TestAClearedConnectionPoolIsUnavailable(t *testing.T) {
	assert.True(t, mongox.IsUnavailable(fmt.Errorf("outbox: marking users: %w", clearedPool{})))
}

// With w=majority a write can be applied on the primary and still fail: its
// concern was not met in time, or the primary stepped down. Such an error is
// an outage to retry (503), never a refusal of the input or a 500.
func TestAWriteConcernFailureIsUnavailable(t *testing.T) {
	for name, err := range map[string]error{
		"write concern timed out": mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{
			Code: 64, Name: "WriteConcernFailed", Message: "waiting for replication timed out"}},
		"bulk write concern failed": mongo.BulkWriteException{WriteConcernError: &mongo.WriteConcernError{
			Code: 100, Name: "UnsatisfiableWriteConcern", Message: "not enough data-bearing nodes"}},
		"primary stepped down": mongo.CommandError{Code: 189, Name: "PrimarySteppedDown",
			Labels: []string{"RetryableWriteError"}},
	} {
		t.Run(name, func(t *testing.T) {
			wrapped := fmt.Errorf("inserting order: %w", err)
			assert.True(t, mongox.IsUnavailable(wrapped))
			assert.False(t, mongox.IsDuplicateKey(wrapped))
		})
	}
	duplicate := mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key"}}}
	assert.False(t, mongox.IsUnavailable(duplicate), "a refusal of the input stays one")
}
