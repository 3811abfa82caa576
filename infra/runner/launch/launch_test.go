package launch_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/runner/launch"
)

func TestFreePortsAreFreeAndBelowTheEphemeralRange(t *testing.T) {
	gateway, base, err := launch.FreePorts(0)
	require.NoError(t, err)
	assert.Equal(t, base+21, gateway)
	assert.Less(t, gateway, 32768)
	for p := base; p <= gateway; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		require.NoError(t, err, "port %d", p)
		l.Close()
	}
}

func TestPIDsReadsTheRunnersPidFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "run"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run", "orders.pid"), []byte("1234\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run", "runner.lock"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run", "broken.pid"), []byte("x"), 0o644))
	assert.Equal(t, map[string]int{"orders": 1234}, launch.PIDs(dir))
	assert.Empty(t, launch.PIDs(t.TempDir()))
}

func TestRepoRootFindsGoWork(t *testing.T) {
	root, err := launch.RepoRoot()
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.work"))
	assert.NoError(t, err)
}

func TestStartNamesAMissingRunner(t *testing.T) {
	_, err := launch.Start(t.Context(), launch.Options{Root: t.TempDir()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bin/runner is missing")
}
