// Command ferretdb runs FerretDB on SQLite files (the default) or on a
// PostgreSQL server (-handler postgresql): a MongoDB wire-protocol server for
// tests and the local runner on machines without a real MongoDB. It is never
// linked into a service binary. FerretDB itself listens on a Unix
// socket; clients reach it through a proxy that makes single-document writes
// atomic as they are in MongoDB (see serialize.go), and it indexes _id the way
// FerretDB queries it (see idindex.go). The Makefile builds it from a copy of
// FerretDB that hands SQLite the _id of any filter naming one (see pushdown/),
// so a conditional write by _id reads one document, not its collection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresURLEnv holds the PostgreSQL connection string for -handler
// postgresql. It carries a password, so it stays off the command line.
const postgresURLEnv = "FERRETDB_POSTGRESQL_URL"

// settings are the wrapper's flags.
type settings struct {
	addr, dir, logLevel, handler string
	postgresURL                  string
}

func main() {
	var o settings
	flag.StringVar(&o.addr, "listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	flag.StringVar(&o.dir, "data-dir", "ferretdb-data", "directory for the SQLite files (created if missing)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	flag.StringVar(&o.handler, "handler", "sqlite", "sqlite, or postgresql (connection string in $"+postgresURLEnv+")")
	flag.Parse()
	o.postgresURL = os.Getenv(postgresURLEnv)

	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(o settings) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := prepareBackend(o, abs); err != nil {
		return err
	}
	// A socket path must stay short (108 bytes), so it does not live in dir.
	sockDir, err := os.MkdirTemp("", "ferretdb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "ferretdb.sock")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f, err := newFerretDB(o, abs, sock, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	stopProfiles, err := startProfiles()
	if err != nil {
		return fmt.Errorf("%s: %w", profileEnv, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	if o.handler == "sqlite" {
		go keepIDIndexes(ctx, abs, logger)
	}
	s := &serializer{backend: sock, log: logger, locks: map[string]*sync.Mutex{}}
	fmt.Fprintln(os.Stderr, "ferretdb: listening on", ln.Addr())
	serveErr := s.serve(ctx, ln)
	stop()
	return errors.Join(serveErr, <-done, stopProfiles())
}

// prepareBackend makes the SQLite folder, or waits until PostgreSQL
// answers: the runner counts this server ready once it listens, and a
// PostgreSQL still starting up would fail the services' first queries.
func prepareBackend(o settings, dir string) error {
	switch o.handler {
	case "sqlite":
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		return nil
	case "postgresql":
		if o.postgresURL == "" {
			return fmt.Errorf("-handler postgresql needs $%s", postgresURLEnv)
		}
		return waitForPostgres(o.postgresURL, 60*time.Second)
	}
	return fmt.Errorf("-handler %q is neither sqlite nor postgresql", o.handler)
}

func waitForPostgres(url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	// A pool, not one connection: only the pool understands the URL's
	// pool_max_conns, which FerretDB reads too.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	for {
		if err = pool.Ping(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL did not answer within %s: %w", within, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newFerretDB is FerretDB on SQLite files in dir or on PostgreSQL, listening
// on the Unix socket sock.
func newFerretDB(o settings, dir, sock string, logger *slog.Logger) (*ferretdb.FerretDB, error) {
	return ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{Unix: sock},
		Logger:        logger,
		Handler:       o.handler,
		SQLiteURL:     "file:" + dir + "/",
		PostgreSQLURL: o.postgresURL,
	})
}
