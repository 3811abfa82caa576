package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// These run on the FerretDB the build links: `make test-tools` builds with the
// pushdown copy (pushdown/), as bin/ferretdb is built.

// seat is a document as the reservation's conditional writes see it.
type seat struct {
	ID      string `bson:"_id"`
	OrderID string `bson:"orderId"`
	Version int    `bson:"version"`
}

// seats stores n seats in a fresh collection and indexes _id the way the
// queries spell it, as the wrapper does for every table (idindex.go).
func seats(t testing.TB, client *mongo.Client, dir string, n int) *mongo.Collection {
	t.Helper()
	ctx := context.Background()
	coll := client.Database("orders").Collection("seats")
	docs := make([]any, n)
	for i := range n {
		docs[i] = seat{ID: fmt.Sprintf("seat-%05d", i)}
	}
	_, err := coll.InsertMany(ctx, docs)
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	require.NoError(t, err)
	for _, f := range files {
		require.NoError(t, addIDIndexes(ctx, f))
	}
	return coll
}

// A filter naming _id beside other conditions goes to SQLite by _id, and
// FerretDB still applies the rest: the write matches only when every
// condition holds.
func TestAConditionalWriteByIDIsDecidedByTheWholeFilter(t *testing.T) {
	_, client, dir := startProxiedIn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	coll := seats(t, client, dir, 50)

	hold := bson.M{"$set": bson.M{"orderId": "order-1"}, "$inc": bson.M{"version": 1}}
	var got seat
	require.NoError(t, coll.FindOneAndUpdate(ctx, bson.M{"_id": "seat-00007", "orderId": ""}, hold,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got))
	assert.Equal(t, seat{ID: "seat-00007", OrderID: "order-1", Version: 1}, got)

	err := coll.FindOneAndUpdate(ctx, bson.M{"_id": "seat-00007", "orderId": ""}, hold).Err()
	assert.ErrorIs(t, err, mongo.ErrNoDocuments, "held already: the rest of the filter refuses it")
	res, err := coll.UpdateOne(ctx, bson.M{"_id": "seat-00007", "version": 0}, bson.M{"$set": bson.M{"orderId": ""}})
	require.NoError(t, err)
	assert.Zero(t, res.MatchedCount, "a stale version matches nothing")
	res, err = coll.UpdateOne(ctx, bson.M{"_id": "seat-00007", "version": 1, "orderId": bson.M{"$ne": ""}},
		bson.M{"$set": bson.M{"orderId": ""}})
	require.NoError(t, err)
	assert.EqualValues(t, 1, res.ModifiedCount)
	n, err := coll.CountDocuments(ctx, bson.M{"_id": "seat-00008", "orderId": "order-1"})
	require.NoError(t, err)
	assert.Zero(t, n, "another seat is not matched by its _id alone")
	del, err := coll.DeleteOne(ctx, bson.M{"_id": "seat-00009", "version": 5})
	require.NoError(t, err)
	assert.Zero(t, del.DeletedCount)
}

// FerretDB hands SQLite every filter that names _id, whatever else it holds
// (explain's filterPushdown); a filter without _id reads the collection.
// How much that saves is BenchmarkAConditionalWriteByID's figure.
func TestEveryFilterNamingIDGoesToSQLite(t *testing.T) {
	_, client, dir := startProxiedIn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seats(t, client, dir, 50)
	for filter, pushed := range map[string]bool{
		`{"_id": "seat-00007"}`:                                       true,
		`{"_id": "seat-00007", "orderId": ""}`:                        true,
		`{"orderId": "", "_id": "seat-00007", "version": {"$lt": 3}}`: true,
		`{"_id": {"$in": ["seat-00007"]}, "orderId": ""}`:             false,
		`{"orderId": ""}`:                                             false,
	} {
		var doc bson.D
		require.NoError(t, bson.UnmarshalExtJSON([]byte(filter), false, &doc))
		var plan bson.M
		require.NoError(t, client.Database("orders").RunCommand(ctx, bson.D{
			{Key: "explain", Value: bson.D{{Key: "find", Value: "seats"}, {Key: "filter", Value: doc}}},
		}).Decode(&plan))
		assert.Equal(t, pushed, plan["filterPushdown"], "filter %s", filter)
	}
}

// BenchmarkAConditionalWriteByID is the reservation's write on collections of
// growing size: hold a free seat, then free it, each one findOneAndUpdate
// with {_id, orderId}. The seats are taken all over the collection (a prime
// stride): a scan stops at its first match, so seats at its start would hide
// what a scan costs.
func BenchmarkAConditionalWriteByID(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n, " documents"), func(b *testing.B) {
			_, client, dir := startProxiedIn(b)
			ctx := context.Background()
			coll := seats(b, client, dir, n)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("seat-%05d", i*7919%n)
				if err := coll.FindOneAndUpdate(ctx, bson.M{"_id": id, "orderId": ""},
					bson.M{"$set": bson.M{"orderId": "held"}}).Err(); err != nil {
					b.Fatal(err)
				}
				if err := coll.FindOneAndUpdate(ctx, bson.M{"_id": id, "orderId": "held"},
					bson.M{"$set": bson.M{"orderId": ""}}).Err(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*2)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
