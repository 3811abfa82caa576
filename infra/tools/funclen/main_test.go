package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// body returns a function spanning exactly lines lines, signature and closing
// brace included.
func body(signature string, lines int) string {
	return signature + " {\n" + strings.Repeat("\t_ = 1\n", lines-2) + "}\n"
}

func write(t *testing.T, dir, name, src string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
}

func TestFunctionsOverTheLimitAreNamedAndOthersAreNot(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.go", "package a\n\n"+
		body("func exactlyAtTheLimit()", 60)+
		body("func oneOver()", 61)+
		"type T[K any] struct{}\n\n"+
		body("func (t *T[K]) method()", 70))
	// Tests, and folders that are not the module's code, are not measured.
	write(t, dir, "a_test.go", "package a\n\n"+body("func longTest()", 200))
	write(t, dir, "node_modules/x/x.go", "package x\n\n"+body("func vendored()", 200))
	write(t, dir, "testdata/x.go", "package x\n\n"+body("func fixture()", 200))

	long, err := longFunctions([]string{dir}, 60)
	require.NoError(t, err)
	require.Len(t, long, 2)
	assert.Equal(t, "(*T).method", long[0].Name, "longest first")
	assert.Equal(t, 70, long[0].Lines)
	assert.Equal(t, "oneOver", long[1].Name)
	assert.Equal(t, 61, long[1].Lines)
	assert.Equal(t, fmt.Sprintf("61 oneOver %s:%d", filepath.Join(dir, "a.go"), 63), long[1].String())
}

func TestAFileThatDoesNotParseIsAnError(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "broken.go", "package broken\nfunc {")
	_, err := longFunctions([]string{dir}, 60)
	require.Error(t, err)
}
