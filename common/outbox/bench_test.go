package outbox_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testenv"
)

// Figures for docs/benchmarks.md, printed, not judged:
//
//	go test -run '^$' -bench . -benchtime 20x ./outbox/
//
// They run against the same FerretDB as the tests (or MongoDB with
// TESTENV_CONTAINERS).

// ticketLike is a document about the size of a stored ticket.
func ticketLike(i int) bson.M {
	return bson.M{
		"_id": primitive.NewObjectID(), "userId": "seller", "title": fmt.Sprintf("Concert #%d", i), "price": 1000 + i%9000,
		"version": 0, "orderId": "", "sold": false, "closedOrders": bson.A{}, "createdAt": time.Now(),
	}
}

// fill inserts n ticket-like documents without events, in batches.
func fill(b *testing.B, coll *mongo.Collection, n int) {
	b.Helper()
	ctx := benchContext(b)
	const batch = 1000
	for i := 0; i < n; i += batch {
		docs := make([]any, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			docs = append(docs, ticketLike(j))
		}
		_, err := coll.InsertMany(ctx, docs)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchContext bounds a benchmark by ten minutes, not the tests' one: its
// setup alone inserts 100,000 documents.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

type discard struct{}

func (discard) Publish(context.Context, events.Envelope) error { return nil }

func event(b *testing.B, id string) outbox.Pending {
	b.Helper()
	p, err := outbox.NewPending(context.Background(), events.TicketUpdated{ID: id, Version: 1, Title: "x", Price: 1000, UserID: "u1"})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkFlushAmong100000Documents: 10 of 100,000 documents have a pending
// event; one op is the relay's Flush that publishes the ten. It prints how
// FerretDB plans the relay's queries, and what the query the relay used
// before hints costs on the same collection.
func BenchmarkFlushAmong100000Documents(b *testing.B) {
	ctx := benchContext(b)
	db := testenv.NewDatabase(b)
	coll := db.Collection("tickets")
	start := time.Now()
	fill(b, coll, 100_000)
	b.Logf("inserted 100,000 documents in %s", time.Since(start).Round(time.Millisecond))

	var ids []primitive.ObjectID
	cur, err := coll.Find(ctx, bson.M{}, options.Find().SetLimit(10).SetProjection(bson.M{"_id": 1}))
	if err != nil {
		b.Fatal(err)
	}
	var docs []struct {
		ID primitive.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		b.Fatal(err)
	}
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	relay := outbox.NewRelay(discard{}, testenv.Logger(b), outbox.New(coll))
	pend := func() {
		for _, id := range ids {
			ev := event(b, id.Hex())
			if err := outbox.Mark(ctx, coll, id, ev); err != nil {
				b.Fatal(err)
			}
			if _, err := coll.UpdateOne(ctx, bson.M{"_id": id}, bson.D{outbox.Push(ev)}); err != nil {
				b.Fatal(err)
			}
		}
	}

	pend()
	explain(b, db, bson.D{{Key: "find", Value: outbox.HintCollection}, {Key: "filter", Value: bson.M{}},
		{Key: "sort", Value: bson.M{"_id": 1}}})
	explain(b, db, bson.D{{Key: "find", Value: "tickets"}, {Key: "filter", Value: bson.M{"_id": ids[0]}},
		{Key: "projection", Value: bson.M{"outbox": 1}}})
	old := time.Now()
	n, err := coll.CountDocuments(ctx, bson.M{"outbox.0": bson.M{"$exists": true}})
	if err != nil || n != 10 {
		b.Fatalf("old query: %d, %v", n, err)
	}
	b.Logf("the query before hints, {\"outbox.0\": {$exists: true}}, alone: %s", time.Since(old).Round(time.Microsecond))
	oneByID := time.Now()
	if err := coll.FindOne(ctx, bson.M{"_id": ids[0]}).Err(); err != nil {
		b.Fatal(err)
	}
	b.Logf("one findOne by _id on this collection: %s", time.Since(oneByID).Round(time.Microsecond))

	b.ResetTimer()
	for i := range b.N {
		if i > 0 {
			b.StopTimer()
			pend()
			b.StartTimer()
		}
		got, err := relay.Flush(ctx)
		if err != nil || got != len(ids) {
			b.Fatalf("flush published %d, %v", got, err)
		}
	}
}

func explain(b *testing.B, db *mongo.Database, find bson.D) {
	b.Helper()
	var out bson.M
	if err := db.RunCommand(benchContext(b), bson.D{{Key: "explain", Value: find}}).Decode(&out); err != nil {
		b.Fatal(err)
	}
	delete(out, "serverInfo")
	delete(out, "command")
	b.Logf("explain %v\n  -> %v", find, out)
}

// BenchmarkDrainABacklogOf5000 drains 5,000 pending events, one per document,
// through a real NATS Streaming server, and reports the drain rate and the
// relay's peak heap while draining (sampled every 5 ms).
func BenchmarkDrainABacklogOf5000(b *testing.B) {
	ctx := benchContext(b)
	client := testenv.SharedBroker(b).NewBus(b)
	const backlog = 5000
	for range b.N {
		b.StopTimer()
		db := testenv.NewDatabase(b)
		coll := db.Collection("tickets")
		docs := make([]any, backlog)
		for i := range docs {
			d := ticketLike(i)
			ev := event(b, d["_id"].(primitive.ObjectID).Hex())
			if err := outbox.Mark(ctx, coll, d["_id"], ev); err != nil {
				b.Fatal(err)
			}
			d[outbox.Field] = []outbox.Pending{ev}
			docs[i] = d
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
		docs = nil
		relay := outbox.NewRelay(client, testenv.Logger(b), outbox.New(coll))
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		var peak atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			var m runtime.MemStats
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()

		b.StartTimer()
		start := time.Now()
		total := 0
		for total < backlog {
			n, err := relay.Flush(ctx)
			if err != nil {
				b.Fatal(err)
			}
			total += n
		}
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		sampler.Wait()
		b.ReportMetric(float64(backlog)/took.Seconds(), "events/s")
		b.ReportMetric(float64(peak.Load()-min(peak.Load(), before.HeapAlloc))/(1<<20), "peak-heap-MiB-over-rest")
		b.Logf("drained %d events in %s (%.0f/s); heap at rest %.1f MiB, peak while draining %.1f MiB",
			backlog, took.Round(time.Millisecond), float64(backlog)/took.Seconds(),
			float64(before.HeapAlloc)/(1<<20), float64(peak.Load())/(1<<20))
	}
}
