// Command ferretdb runs FerretDB with its SQLite backend: a MongoDB wire-protocol
// server for tests and the local runner on machines without a real MongoDB.
// It is never linked into a service binary. FerretDB itself listens on a Unix
// socket; clients reach it through a proxy that makes single-document writes
// atomic as they are in MongoDB (see serialize.go), and it indexes _id the way
// FerretDB queries it (see idindex.go).
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

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("data-dir", "ferretdb-data", "directory for the SQLite files (created if missing)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	if err := run(*addr, *dir, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(addr, dir, logLevel string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// A socket path must stay short (108 bytes), so it does not live in dir.
	sockDir, err := os.MkdirTemp("", "ferretdb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "ferretdb.sock")
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f, err := newFerretDB(abs, sock, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
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
	go keepIDIndexes(ctx, abs, logger)
	s := &serializer{backend: sock, log: logger, locks: map[string]*sync.Mutex{}}
	fmt.Fprintln(os.Stderr, "ferretdb: listening on", ln.Addr())
	serveErr := s.serve(ctx, ln)
	stop()
	return errors.Join(serveErr, <-done, stopProfiles())
}

// newFerretDB is FerretDB on SQLite files in dir, listening on the Unix socket sock.
func newFerretDB(dir, sock string, logger *slog.Logger) (*ferretdb.FerretDB, error) {
	return ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: sock},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
}
