package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/server"
)

const waitFor = 10 * time.Second

// running is a Serve call in the background.
type running struct {
	addr chan string
	done chan error
}

func start(ctx context.Context, cfg server.Config) running {
	r := running{addr: make(chan string, 1), done: make(chan error, 1)}
	cfg.Addr = "127.0.0.1:0"
	cfg.Ready = func(a net.Addr) { r.addr <- a.String() }
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	go func() { r.done <- server.Serve(ctx, cfg) }()
	return r
}

func (r running) url(t *testing.T) string {
	t.Helper()
	select {
	case a := <-r.addr:
		return "http://" + a
	case err := <-r.done:
		require.FailNow(t, "Serve returned before listening", "%v", err)
	case <-time.After(waitFor):
		require.FailNow(t, "Serve never listened")
	}
	return ""
}

func (r running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(waitFor):
		require.FailNow(t, "Serve did not return")
	}
	return nil
}

// journal records what happened, in order.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

func TestShutdownDrainsInFlightRequestsThenRunsClosersInOrder(t *testing.T) {
	var log journal
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond) // a request that takes a while
		log.add("request finished")
		_, _ = io.WriteString(w, "done")
	})
	closer := func(name string) server.Closer {
		return server.Closer{Name: name, Close: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				log.add(name + " got no deadline")
			}
			log.add("closed " + name)
			return nil
		}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := start(ctx, server.Config{
		Handler: mux,
		Closers: []server.Closer{closer("bus"), closer("mongo")},
	})
	url := srv.url(t)

	type result struct {
		status int
		body   string
		err    error
	}
	answered := make(chan result, 1)
	go func() {
		res, err := http.Get(url + "/slow")
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		answered <- result{res.StatusCode, string(body), err}
	}()
	<-started
	cancel()

	require.NoError(t, srv.wait(t))
	assert.Equal(t, []string{"request finished", "closed bus", "closed mongo"}, log.list(),
		"Serve drains the request, then closes in registration order")
	res := <-answered
	require.NoError(t, res.err)
	assert.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, "done", res.body)

	_, err := http.Get(url + "/slow")
	assert.Error(t, err, "nothing listens after Serve returned")
}

func TestBackgroundWorkStopsWithTheServer(t *testing.T) {
	var log journal
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make(chan struct{})
	srv := start(ctx, server.Config{
		Handler: http.NotFoundHandler(),
		Background: []func(context.Context) error{func(ctx context.Context) error {
			close(running)
			<-ctx.Done()
			log.add("background stopped")
			return nil
		}},
		Closers: []server.Closer{{Name: "bus", Close: func(context.Context) error { log.add("closed bus"); return nil }}},
	})
	srv.url(t)
	<-running
	cancel()
	require.NoError(t, srv.wait(t))
	assert.Equal(t, []string{"background stopped", "closed bus"}, log.list())
}

func TestAFailingBackgroundTaskStopsTheService(t *testing.T) {
	var closed atomic.Bool
	relayErr := errors.New("outbox relay: collection dropped")
	srv := start(context.Background(), server.Config{
		Handler:    http.NotFoundHandler(),
		Background: []func(context.Context) error{func(context.Context) error { return relayErr }},
		Closers:    []server.Closer{{Name: "mongo", Close: func(context.Context) error { closed.Store(true); return nil }}},
	})
	srv.url(t)
	err := srv.wait(t)
	assert.ErrorIs(t, err, relayErr)
	assert.True(t, closed.Load(), "closers run after a failure too")
}

func TestACloserErrorIsReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	closeErr := errors.New("disconnect timed out")
	var later atomic.Bool
	srv := start(ctx, server.Config{
		Handler: http.NotFoundHandler(),
		Closers: []server.Closer{
			{Name: "mongo", Close: func(context.Context) error { return closeErr }},
			{Name: "redis", Close: func(context.Context) error { later.Store(true); return nil }},
		},
	})
	srv.url(t)
	cancel()
	err := srv.wait(t)
	assert.ErrorIs(t, err, closeErr)
	assert.Contains(t, err.Error(), "closing mongo")
	assert.True(t, later.Load(), "one closer failing does not skip the rest")
}

func TestABusyPortIsAClearError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()

	done := make(chan error, 1)
	go func() {
		done <- server.Serve(context.Background(), server.Config{
			Addr:    taken.Addr().String(),
			Handler: http.NotFoundHandler(),
			Logger:  slog.New(slog.DiscardHandler),
		})
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.EADDRINUSE)
		assert.Contains(t, err.Error(), taken.Addr().String(), "the error names the address")
	case <-time.After(waitFor):
		require.FailNow(t, "Serve did not fail on a busy port")
	}
}
