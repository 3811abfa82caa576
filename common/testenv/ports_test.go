package testenv

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFreePortsAreDistinctBindableAndNotEphemeral(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		port, err := FreePort()
		require.NoError(t, err)
		assert.False(t, seen[port], "port %d handed out twice", port)
		seen[port] = true
		assert.GreaterOrEqual(t, port, quietPortsFrom)
		assert.Less(t, port, quietPortsTo, "below the kernel's ephemeral ports and the runner's blocks")
	}
	port, err := FreePort()
	require.NoError(t, err)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err, "the port is free to listen on")
	require.NoError(t, l.Close())
}

func TestFreePortPassesOverPortsInUseOrHandedOut(t *testing.T) {
	handed, err := FreePort()
	require.NoError(t, err)
	inUse, err := FreePort()
	require.NoError(t, err)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(inUse)))
	require.NoError(t, err)
	defer l.Close()
	delete(handedOut.ports, inUse) // as if another process listened on it

	free, err := FreePort()
	require.NoError(t, err)
	delete(handedOut.ports, free) // free a moment ago, and not handed out
	candidates := []int{handed, inUse, handed, free}
	next := 0
	port, err := freePort(func() int { next++; return candidates[next-1] })
	require.NoError(t, err)
	assert.Equal(t, 4, next, "two handed-out candidates and one in use were passed over")
	assert.Equal(t, free, port)

	_, err = freePort(func() int { return handed })
	assert.Error(t, err, "a picker with nothing free gives up")
}

func TestLastLinesKeepsTheEnd(t *testing.T) {
	assert.Equal(t, "c\nd", lastLines("a\nb\nc\nd\n", 2))
	assert.Equal(t, "a\nb", lastLines("a\nb", 5))
	assert.Equal(t, "", lastLines("", 3))
	assert.Equal(t, 200, strings.Count(lastLines(strings.Repeat("x\n", 500), 200), "x"))
}
