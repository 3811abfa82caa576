// Package server runs a service's HTTP server until its context ends, then
// shuts down in order: stop accepting and drain in-flight requests, then close
// what the service registered (listeners drain their handlers, the broker
// connection closes, the database disconnects).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/common/tracing"
)

// DefaultShutdownTimeout is how long in-flight work gets to finish. Kubernetes'
// terminationGracePeriodSeconds must be larger.
const DefaultShutdownTimeout = 20 * time.Second

// Closer is something to close at shutdown, in registration order.
type Closer struct {
	Name  string
	Close func(ctx context.Context) error
}

// Config describes one service's server.
type Config struct {
	Addr            string
	Handler         http.Handler
	Logger          *slog.Logger
	ShutdownTimeout time.Duration
	// Background runs alongside the server (outbox relay, queue workers) and
	// stops when the context ends. An error from one stops the service.
	Background []func(ctx context.Context) error
	Closers    []Closer
	// Ready, when set, receives the bound address once the listener is open
	// (":0" in tests).
	Ready func(addr net.Addr)
}

// Serve listens on cfg.Addr and serves until ctx ends or something fails.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	srv := newHTTPServer(cfg)
	failed := make(chan error, 1+len(cfg.Background))
	bg := startBackground(ctx, cfg.Background, failed)
	defer bg.stop()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	cfg.Logger.Info("listening", "addr", ln.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
		cfg.Logger.Info("shutting down")
	case runErr = <-failed:
		cfg.Logger.Error("stopping after failure", "err", runErr)
	}
	return shutdown(ctx, cfg, srv, bg, runErr)
}

// newHTTPServer bounds every phase of a request, so a slow or stalled client
// holds a connection for a limited time only.
func newHTTPServer(cfg Config) *http.Server {
	return &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
}

// background is the service's background loops, running on a context of
// their own: it ends only when Serve stops them, after the HTTP server has
// drained, so work an in-flight request queued is still done.
type background struct {
	stop  context.CancelFunc
	done  chan struct{}
	loops int
}

// startBackground starts every loop; one that fails while not being stopped
// reports to failed, which stops the service.
func startBackground(ctx context.Context, loops []func(ctx context.Context) error, failed chan<- error) *background {
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	bg := &background{stop: stop, done: make(chan struct{}, len(loops)), loops: len(loops)}
	for _, run := range loops {
		go func() {
			defer func() { bg.done <- struct{}{} }()
			if err := run(bgCtx); err != nil && bgCtx.Err() == nil {
				failed <- err
			}
		}()
	}
	return bg
}

// stopAndWait stops the loops and waits for them to return, until deadline.
func (bg *background) stopAndWait(deadline context.Context) {
	bg.stop()
	for range bg.loops {
		select {
		case <-bg.done:
		case <-deadline.Done():
		}
	}
}

// shutdown drains in order — HTTP requests, then the background loops, then
// the closers in registration order — all within one ShutdownTimeout, and
// adds whatever failed to runErr.
func shutdown(ctx context.Context, cfg Config, srv *http.Server, bg *background, runErr error) error {
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("draining http: %w", err))
	}
	bg.stopAndWait(shutdownCtx)
	for _, c := range cfg.Closers {
		if err := c.Close(shutdownCtx); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("closing %s: %w", c.Name, err))
		}
	}
	return runErr
}

// Main runs a service's run function with a context that ends on SIGINT or
// SIGTERM, and exits non-zero with the error if it fails.
func Main(name string, run func(ctx context.Context, getenv func(string) string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// NewLogger returns the JSON logger services write to stdout, from level up;
// a line logged with the context of a span names its trace_id and span_id.
func NewLogger(service string, level slog.Level) *slog.Logger {
	h := tracing.LogHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	return slog.New(h).With("service", service)
}
