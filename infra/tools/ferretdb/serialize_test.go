package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// startProxied runs FerretDB (SQLite, in a temporary directory) behind the
// serializer, as main does, and returns the serializer and a client of it.
func startProxied(t *testing.T) (*serializer, *mongo.Client) {
	s, client, _ := startProxiedIn(t)
	return s, client
}

// startProxiedIn is startProxied that also returns the SQLite files' folder.
func startProxiedIn(t testing.TB) (*serializer, *mongo.Client, string) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ferretdb.sock")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := newFerretDB(settings{handler: "sqlite"}, dir, sock, logger)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	s := &serializer{backend: sock, log: logger, locks: map[string]*sync.Mutex{}}
	wg.Go(func() { _ = s.serve(ctx, ln) })
	client, err := mongo.Connect(ctx, options.Client().ApplyURI("mongodb://"+ln.Addr().String()+"/").
		SetServerSelectionTimeout(10*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.Disconnect(context.Background())
		cancel()
		wg.Wait()
	})
	return s, client, dir
}

// The lock is the collection's within its database: a write to orders'
// "tickets" does not wait for one to tickets' "tickets", while a write to the
// same database's collection does.
func TestWritesWaitOnlyForTheirOwnDatabasesCollection(t *testing.T) {
	s, client := startProxied(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, db := range []string{"tickets", "orders"} {
		_, err := client.Database(db).Collection("tickets").InsertOne(ctx, bson.M{"_id": "warm-up"})
		require.NoError(t, err)
	}

	held := s.lockFor("tickets.tickets")
	held.Lock()
	other := client.Database("orders").Collection("tickets")
	_, err := other.InsertOne(ctx, bson.M{"_id": "o1"})
	require.NoError(t, err, "a write to orders.tickets while tickets.tickets is locked")

	same := make(chan error, 1)
	go func() {
		_, err := client.Database("tickets").Collection("tickets").InsertOne(ctx, bson.M{"_id": "t1"})
		same <- err
	}()
	select {
	case err := <-same:
		held.Unlock()
		t.Fatalf("a write to tickets.tickets finished while its lock was held (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	held.Unlock()
	require.NoError(t, <-same)
}

// Conditional writes stay atomic per database and collection: the same
// contest run at once on two databases' same-named collections has one
// winner in each.
func TestConcurrentConditionalWritesHaveOneWinnerPerDatabase(t *testing.T) {
	_, client := startProxied(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbs := []string{"tickets", "orders"}
	wins := make([]atomic.Int32, len(dbs))
	for _, db := range dbs {
		_, err := client.Database(db).Collection("tickets").InsertOne(ctx, bson.M{"_id": "t", "orderId": ""})
		require.NoError(t, err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		for d, db := range dbs {
			coll := client.Database(db).Collection("tickets")
			wg.Go(func() {
				err := coll.FindOneAndUpdate(ctx, bson.M{"_id": "t", "orderId": ""},
					bson.M{"$set": bson.M{"orderId": fmt.Sprint("o", i)}}).Err()
				switch {
				case err == nil:
					wins[d].Add(1)
				case err != mongo.ErrNoDocuments:
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for d, db := range dbs {
		assert.EqualValues(t, 1, wins[d].Load(), "winners in %s.tickets", db)
	}
}

// writeTarget names a write by its database and collection.
func TestWriteTargetIsDatabaseAndCollection(t *testing.T) {
	body, err := bson.Marshal(bson.D{{Key: "update", Value: "tickets"}, {Key: "ordered", Value: true},
		{Key: "lsid", Value: bson.M{"id": "x"}}, {Key: "$db", Value: "orders"}})
	require.NoError(t, err)
	msg := make([]byte, headerLen+4+1, headerLen+4+1+len(body))
	msg = append(msg, body...)
	putUint32 := func(at int, v uint32) {
		msg[at], msg[at+1], msg[at+2], msg[at+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	putUint32(0, uint32(len(msg)))
	putUint32(12, opMsg)
	ns, write := writeTarget(msg)
	assert.True(t, write)
	assert.Equal(t, "orders.tickets", ns)
}
