package user_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/user"
)

func TestHashVerifiesOnlyItsPassword(t *testing.T) {
	h := user.NewHasher()
	hash, err := h.Hash("correct horse")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"), hash)

	ok, err := h.Compare(hash, "correct horse")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = h.Compare(hash, "correct horsE")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestHashesOfOnePasswordDiffer(t *testing.T) {
	h := user.NewFastHasher()
	a, err := h.Hash("same")
	require.NoError(t, err)
	b, err := h.Hash("same")
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "a random salt per hash")
}

func TestHashesFromOtherParametersStillVerify(t *testing.T) {
	old, err := user.NewFastHasher().Hash("pw-from-before")
	require.NoError(t, err)
	ok, err := user.NewHasher().Compare(old, "pw-from-before")
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestCompareRefusesMalformedHashes(t *testing.T) {
	h := user.NewFastHasher()
	for _, bad := range []string{"", "plain", "$2a$10$bcrypt", "$argon2id$v=19$m=x$salt$key", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5"} {
		_, err := h.Compare(bad, "pw")
		assert.Error(t, err, bad)
	}
}

func TestNormalizeEmail(t *testing.T) {
	assert.Equal(t, "ann@example.com", user.NormalizeEmail("  Ann@Example.COM\t"))
}

// Each hash allocates 19 MiB that is garbage once it returns. Without help the
// process keeps that memory resident after a burst of signins, until some
// later collection and the scavenger give it back.
func TestTheMemoryOfABurstIsGivenBackOnceHashingStops(t *testing.T) {
	h := user.NewHasher()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := h.Hash("a burst of signins")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	const oneHash = 19 << 20
	require.Eventually(t, func() bool {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapSys-m.HeapReleased < oneHash
	}, 10*time.Second, 100*time.Millisecond, "the heap keeps at least one hash's memory from the OS")
}

// The unknown email's comparison costs one derivation, as a wrong password's
// does, and making the hasher costs none: a start-up does not wait for a hash.
func TestTheDummyComparisonCostsOneHashAndStartingNone(t *testing.T) {
	h := user.NewHasher()
	assert.Zero(t, h.Derivations(), "nothing is hashed at start-up")
	hash, err := h.Hash("password1")
	require.NoError(t, err)
	ok, err := h.Compare(hash, "wrong")
	require.NoError(t, err)
	require.False(t, ok)
	h.CompareDummy("password1")
	assert.Equal(t, int64(3), h.Derivations(), "a hash, a wrong password, an unknown email")
}
