package user

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// Hasher hashes passwords with argon2id and a per-user random salt.
//
// The parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane):
// memory-hard enough that a stolen table is slow to attack, small enough that
// a signin costs tens of milliseconds. Hashes run at most one per CPU the
// process may use (GOMAXPROCS) at once: more could not run any faster, and a
// burst of signins queues instead of multiplying memory (the service
// stays well inside its 128 MiB limit under load).
//
// Each hash's 19 MiB is garbage the moment it returns, and Go's collector
// runs only once the heap has doubled: after a burst of signins the process
// would keep ~100 MiB resident until some later collection. So once no hash
// has run for reclaimAfter, the hasher collects and hands the memory back to
// the operating system: one collection per burst, a few milliseconds.
type Hasher struct {
	memoryKiB uint32
	passes    uint32
	lanes     uint8
	slots     chan struct{}
	// dummy is hashed against when the email is unknown, so an unknown email
	// costs the same time as a wrong password. It is a random key under a
	// random salt, encoded with the hasher's parameters: no password matches
	// it, and making it costs no hash at start-up.
	dummy string

	// derived counts the argon2id runs, hashes and comparisons alike: what
	// a flood of requests costs, and what a refused request must not.
	derived atomic.Int64

	mu      sync.Mutex
	running int
	reclaim *time.Timer
}

// reclaimAfter is how long hashing must have stopped before its memory is
// handed back: long enough that a steady stream of signins never pays for it.
const reclaimAfter = time.Second

const (
	saltLen = 16
	keyLen  = 32
)

// NewHasher returns a Hasher with production parameters.
func NewHasher() *Hasher { return newHasher(19*1024, 2) }

// NewFastHasher returns a Hasher with tiny parameters, for tests that create
// many users and are not about hashing.
func NewFastHasher() *Hasher { return newHasher(64, 1) }

func newHasher(memoryKiB, passes uint32) *Hasher {
	h := &Hasher{memoryKiB: memoryKiB, passes: passes, lanes: 1, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand failing is not recoverable
	}
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	h.dummy = h.encode(salt, key)
	return h
}

// HashMemory is the most memory the hashes running at once hold: one hash's
// memory per slot.
func (h *Hasher) HashMemory() int64 {
	return int64(cap(h.slots)) * int64(h.memoryKiB) << 10
}

// Hash returns the PHC-style encoding of password's argon2id hash.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	return h.encode(salt, h.derive([]byte(password), salt, h.memoryKiB, h.passes, h.lanes)), nil
}

// encode is the PHC-style string of a key derived under the hasher's
// parameters.
func (h *Hasher) encode(salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memoryKiB, h.passes, h.lanes,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Compare reports whether password matches encoded, in constant time. It reads
// the parameters from the hash, so hashes made with older settings still verify.
func (h *Hasher) Compare(encoded, password string) (bool, error) {
	var memory, passes uint32
	var lanes uint8
	var version int
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash: not argon2id")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("password hash: unsupported version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &lanes); err != nil {
		return false, fmt.Errorf("password hash: parameters: %w", err)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("password hash: salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("password hash: key: %w", err)
	}
	got := h.derive([]byte(password), salt, memory, passes, lanes)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// CompareDummy spends the time of one Compare, for unknown emails.
func (h *Hasher) CompareDummy(password string) {
	_, _ = h.Compare(h.dummy, password)
}

// Derivations is how many argon2id runs the hasher has started.
func (h *Hasher) Derivations() int64 { return h.derived.Load() }

func (h *Hasher) derive(password, salt []byte, memory, passes uint32, lanes uint8) []byte {
	h.derived.Add(1)
	h.slots <- struct{}{}
	h.started()
	defer func() {
		h.finished()
		<-h.slots
	}()
	return argon2.IDKey(password, salt, passes, memory, lanes, keyLen)
}

func (h *Hasher) started() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running++
	if h.reclaim != nil {
		h.reclaim.Stop()
	}
}

// finished arms the reclaim once the last running hash is done.
func (h *Hasher) finished() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running--
	if h.running > 0 {
		return
	}
	if h.reclaim == nil {
		h.reclaim = time.AfterFunc(reclaimAfter, h.reclaimIfIdle)
		return
	}
	h.reclaim.Reset(reclaimAfter)
}

func (h *Hasher) reclaimIfIdle() {
	h.mu.Lock()
	idle := h.running == 0
	h.mu.Unlock()
	if idle {
		debug.FreeOSMemory()
	}
}
