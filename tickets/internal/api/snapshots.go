package api

import (
	"sync"
	"time"

	"ticketing.dev/common/httpx"
)

// How the public reads stay cheap and honestly fresh (tickets/README.md,
// "Browsing"). A 304 is decided from memory: each process keeps what it last
// read for each public read — the bytes and their ETag — for at most
// SnapshotLife, and answers every request in that time from it, conditional or
// not. So readers cost the database at most one query per read per process per
// SnapshotLife, however many they are, and a 304 costs none.
//
// Freshness: a snapshot is never served more than SnapshotLife after the
// database was read, so no tickets process says a ticket is for sale more than
// SnapshotLife after its reservation was stored, whichever replica stored it.
// Every answer carries `Age` (rounded up) beside `max-age`, so a cache that
// counts Age (browsers do) keeps it no longer than MaxAge after the read.
// A change this process stores itself (a PUT, a listing, an order event it
// handled) drops its snapshots at once; the other replicas notice when
// theirs expire.
const (
	// SnapshotLife is how long a process answers from what it read.
	SnapshotLife = time.Second
	// MaxAge is the public reads' Cache-Control max-age.
	MaxAge = time.Second
	// maxSnapshots bounds the memory: a full set is emptied.
	maxSnapshots = 1024
)

// Snapshots is one process's memory of its public reads.
type Snapshots struct {
	life time.Duration
	now  func() time.Time

	mu sync.Mutex
	// gen counts the changes this process stored; a read begun before one
	// is answered but not kept.
	gen     uint64
	kept    map[string]httpx.Snapshot
	reading map[string]*reading
}

// reading is one database read that requests for the same key wait for, as
// the gateway's proxy_cache_lock makes them wait for one upstream request.
type reading struct {
	done chan struct{}
	snap httpx.Snapshot
	err  error
}

// NewSnapshots keeps snapshots for life, by the clock now.
func NewSnapshots(life time.Duration, now func() time.Time) *Snapshots {
	return &Snapshots{life: life, now: now, kept: map[string]httpx.Snapshot{}, reading: map[string]*reading{}}
}

// Changed forgets every snapshot: the store calls it after each write.
func (s *Snapshots) Changed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	clear(s.kept)
	clear(s.reading)
}

// Get returns key's snapshot, from memory while it is younger than the life,
// or read (once, for every request that asks meanwhile). A failed read is
// kept by nobody.
func (s *Snapshots) Get(key string, read func() ([]byte, error)) (httpx.Snapshot, error) {
	if s.life <= 0 {
		readAt := s.now()
		body, err := read()
		if err != nil {
			return httpx.Snapshot{}, err
		}
		return httpx.NewSnapshot(body, readAt), nil
	}
	s.mu.Lock()
	if snap, ok := s.kept[key]; ok && s.now().Sub(snap.ReadAt) < s.life {
		s.mu.Unlock()
		return snap, nil
	}
	if rd, ok := s.reading[key]; ok {
		s.mu.Unlock()
		<-rd.done
		return rd.snap, rd.err
	}
	rd := &reading{done: make(chan struct{})}
	s.reading[key] = rd
	gen := s.gen
	s.mu.Unlock()

	readAt := s.now()
	body, err := read()
	rd.err = err
	if err == nil {
		rd.snap = httpx.NewSnapshot(body, readAt)
	}
	close(rd.done)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reading[key] == rd {
		delete(s.reading, key)
	}
	if err == nil && gen == s.gen {
		if len(s.kept) >= maxSnapshots {
			clear(s.kept)
		}
		kept := rd.snap
		kept.Kept = true
		s.kept[key] = kept
	}
	return rd.snap, err
}
