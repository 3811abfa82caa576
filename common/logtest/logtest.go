// Package logtest captures what a service or a server process logs, for tests
// that assert on it or print it when they fail.
package logtest

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Buffer collects log output written from many goroutines (a server's
// handlers, a child process's stdout and stderr) and reads it back whole.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Records decodes what a JSON logger (slog.NewJSONHandler) wrote so far: one
// map per record, in order.
func (b *Buffer) Records() ([]map[string]any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b.buf.Bytes()))
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			return out, err
		}
		out = append(out, rec)
	}
	return out, nil
}
