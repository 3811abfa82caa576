package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/mongox"
)

var sharedMongo shared[string]

// MongoURI returns the URI of the package's shared MongoDB-protocol server:
// a mongo container, or FerretDB (SQLite backend) on loopback.
func MongoURI(t testing.TB) string {
	t.Helper()
	return sharedMongo.get(t, startMongo)
}

func startMongo() (string, func(), error) {
	if UseContainers() {
		endpoint, stop, err := runContainer("mongo:7", "27017/tcp", "mongodb")
		return endpoint + "/", stop, err
	}
	dir, err := os.MkdirTemp("", "testenv-ferretdb-")
	if err != nil {
		return "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	p, err := startProcess("ferretdb", port,
		"-listen-addr", "127.0.0.1:"+strconv.Itoa(port), "-data-dir", dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return fmt.Sprintf("mongodb://127.0.0.1:%d/", port), func() { p.stop(); os.RemoveAll(dir) }, nil
}

// NewDatabase returns a fresh database on the shared server, with a random
// name, dropped when the test ends.
func NewDatabase(t testing.TB) *mongo.Database {
	t.Helper()
	uri := MongoURI(t)
	// The services' own client options, so every store test writes with the
	// write concern production uses.
	client, err := mongo.Connect(context.Background(), mongox.ClientOptions(uri).
		SetServerSelectionTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("testenv: connecting to %s: %v", uri, err)
	}
	db := client.Database(RandomName("test"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Drop(ctx)
		_ = client.Disconnect(ctx)
	})
	return db
}

// DatabaseURI returns a URI naming a fresh database (dropped when the test
// ends), for code that connects by itself from configuration.
func DatabaseURI(t testing.TB) string {
	t.Helper()
	db := NewDatabase(t)
	return MongoURI(t) + db.Name()
}

// RandomName returns prefix plus random hex, for databases, client ids and queues.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}
