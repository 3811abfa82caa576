package testenv

import (
	"context"
	"sync"
	"testing"
)

// Background runs loops — a service's background work: a relay, a sweeper, a
// worker — until the test ends, and waits for them to return. stop ends them
// sooner, as a process that died would; calling it again does nothing.
func Background(t testing.TB, loops ...func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(func() {
			if err := loop(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("testenv: background loop failed: %v", err)
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}
