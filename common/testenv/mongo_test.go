package testenv_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Every service relies on MongoDB applying a conditional single-document write
// atomically: optimistic concurrency on a version field, a reservation as one
// conditional update, the outbox relay's guarded $pop. FerretDB alone does not
// (its SQLite backend queries, then writes back); bin/ferretdb puts a proxy in
// front that does. This test fails against a server that loses updates.
func TestConcurrentConditionalWritesHaveOneWinner(t *testing.T) {
	ctx := testenv.Context(t)
	coll := testenv.NewDatabase(t).Collection("docs")
	for round := range 5 {
		id := fmt.Sprint("doc", round)
		_, err := coll.InsertOne(ctx, bson.M{"_id": id, "holder": "", "version": 0})
		require.NoError(t, err)

		var holds, bumps atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				err := coll.FindOneAndUpdate(ctx, bson.M{"_id": id, "holder": ""},
					bson.M{"$set": bson.M{"holder": fmt.Sprint("h", i)}},
					options.FindOneAndUpdate().SetReturnDocument(options.After)).Err()
				if err == nil {
					holds.Add(1)
				} else if err != mongo.ErrNoDocuments {
					t.Error(err)
				}
				res, err := coll.UpdateOne(ctx, bson.M{"_id": id, "version": 0},
					bson.M{"$inc": bson.M{"version": 1}, "$push": bson.M{"log": i}})
				if err != nil {
					t.Error(err)
					return
				}
				bumps.Add(int32(res.ModifiedCount))
			})
		}
		wg.Wait()
		assert.EqualValues(t, 1, holds.Load(), "round %d: findOneAndUpdate on holder \"\"", round)
		assert.EqualValues(t, 1, bumps.Load(), "round %d: updateOne on version 0", round)
		var doc struct {
			Version int   `bson:"version"`
			Log     []int `bson:"log"`
		}
		require.NoError(t, coll.FindOne(ctx, bson.M{"_id": id}).Decode(&doc))
		assert.Equal(t, 1, doc.Version)
		assert.Len(t, doc.Log, 1)
	}
}
