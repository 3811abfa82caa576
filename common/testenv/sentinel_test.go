package testenv_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testenv"
)

// The sentinels promote the replica when the primary is killed, and what was
// written to the primary before is on the new one.
func TestRedisSentinelPromotesTheReplicaWhenThePrimaryDies(t *testing.T) {
	rs := testenv.NewRedisSentinel(t)
	require.Len(t, rs.Sentinels, 3)
	primary, err := rs.PrimaryAddr()
	require.NoError(t, err)
	assert.Equal(t, rs.Primary.Addr, primary)

	_, err = rs.Command(rs.Primary.Addr, "SET", "k", "v")
	require.NoError(t, err)
	// The replica has it before the primary goes (WAIT for one replica).
	acked, err := rs.Command(rs.Primary.Addr, "WAIT", "1", "5000")
	require.NoError(t, err)
	require.Equal(t, "1", acked)

	rs.KillPrimary(t)
	require.Eventually(t, func() bool {
		addr, err := rs.PrimaryAddr()
		return err == nil && addr == rs.Replica.Addr
	}, testenv.Wait, 50*testenv.Tick, "the sentinels promote the replica")
	require.Eventually(t, func() bool {
		role, err := rs.Command(rs.Replica.Addr, "ROLE")
		return err == nil && strings.HasPrefix(role, "master")
	}, testenv.Wait, testenv.Tick, "the replica takes writes")
	got, err := rs.Command(rs.Replica.Addr, "GET", "k")
	require.NoError(t, err)
	assert.Equal(t, "v", got)
}
