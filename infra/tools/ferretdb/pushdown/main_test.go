package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pinned FerretDB has the condition in both places, and the copy has
// neither left.
func TestThePinnedFerretDBIsPatchedInQueryAndExplain(t *testing.T) {
	dir, err := moduleDir()
	require.NoError(t, err)
	src, err := os.ReadFile(filepath.Join(dir, file))
	require.NoError(t, err)
	patched, err := patch(string(src))
	require.NoError(t, err)
	assert.Equal(t, occurrences, strings.Count(patched, anyID))
	assert.NotContains(t, patched, exactIDOnly)
	assert.Contains(t, patched, "func idPushdown(filter *types.Document) bool")
}

// A FerretDB whose file no longer reads as expected fails the build rather
// than building unpatched.
func TestAnotherFerretDBIsRefused(t *testing.T) {
	_, err := patch("package sqlite\n\nfunc f() {\n\t" + exactIDOnly + "\n\t}\n}\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "appears 1 times, not 2")
}

// write leaves a go.mod that replaces the module with the patched copy.
func TestTheModFileReplacesTheModuleWithTheCopy(t *testing.T) {
	out := t.TempDir()
	t.Chdir("../..")
	require.NoError(t, write(out))
	mod, err := os.ReadFile(filepath.Join(out, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(mod), "replace "+module+" => "+filepath.Join(out, "FerretDB"))
	copied, err := os.ReadFile(filepath.Join(out, "FerretDB", file))
	require.NoError(t, err)
	assert.Contains(t, string(copied), anyID)
	_, err = os.Stat(filepath.Join(out, "go.sum"))
	assert.NoError(t, err)
}
