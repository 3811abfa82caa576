// Command pushdown writes a patched copy of FerretDB whose SQLite
// backend looks a document up by its _id whenever a filter names one.
//
// FerretDB 1.24 hands SQLite a filter only when it is exactly {_id: X}
// (backends/sqlite/collection.go, `params.Filter.Len() == 1`). Any other
// filter reads and decodes the whole collection in Go, so every conditional
// write — a reservation's {_id, orderId: ""}, a version-guarded update's
// {_id, version} — costs as much as a scan of its collection, under the
// collection's write lock. The backend contract allows a filter to be
// "ignored, or safely applied partially or entirely": the handler applies
// the whole filter in Go to whatever the backend returns. Top-level fields
// are ANDed, so a document that matches the filter has exactly that _id, and
// applying the _id alone is safe for any filter that names it once.
//
// It writes a patched copy of the module, replacing that one condition in
// both places the file has it (the query and its explain) and adding the
// function that decides it, and a go.mod for `go build -modfile` that
// replaces the module with the copy. Only the build of bin/ferretdb reads it:
// the module's version and requirements stay the ones go.mod and go.sum pin,
// and the build fails here, loudly, if a new FerretDB no longer has the text
// this replaces.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// module is the FerretDB module the overlay patches; file is the patched
// file within it.
const (
	module = "github.com/FerretDB/FerretDB"
	file   = "internal/backends/sqlite/collection.go"
)

// exactIDOnly is the condition replaced; it appears once for Query and once
// for Explain.
const (
	exactIDOnly = "if params.Filter.Len() == 1 {"
	anyID       = "if idPushdown(params.Filter) {"
	occurrences = 2
)

// idPushdownFunc is appended to the file.
const idPushdownFunc = `
// idPushdown reports whether SQLite may look the filter's documents up by
// _id: the filter names _id once, beside any other conditions, which the
// handler applies in Go to what SQLite returns. Added by ticketing's build
// overlay (infra/tools/ferretdb/pushdown).
func idPushdown(filter *types.Document) bool {
	if filter.Len() == 0 || !filter.Has("_id") {
		return false
	}
	_, duplicated := filter.FindDuplicateKey()
	return !duplicated
}
`

func main() {
	out := flag.String("out", "", "folder to write the patched file and overlay.json into")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "pushdown: -out is required")
		os.Exit(2)
	}
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "pushdown:", err)
		os.Exit(1)
	}
}

// write copies the module into out, patches its file, and writes
// out/go.mod and out/go.sum: the tools module's, with the module replaced
// by the copy.
func write(out string) error {
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	copied := filepath.Join(out, "FerretDB")
	if err := os.RemoveAll(copied); err != nil {
		return err
	}
	if err := os.CopyFS(copied, os.DirFS(dir)); err != nil {
		return err
	}
	target := filepath.Join(copied, file)
	src, err := os.ReadFile(target)
	if err != nil {
		return err
	}
	patched, err := patch(string(src))
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, file), err)
	}
	if err := os.WriteFile(target, []byte(patched), 0o644); err != nil {
		return err
	}
	return writeModFile(out, copied)
}

// writeModFile writes out/go.mod, the tools module's go.mod replacing the
// module with the copy, and out/go.sum, the tools module's go.sum.
func writeModFile(out, copied string) error {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		return fmt.Errorf("run from infra/tools: %w", err)
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return err
	}
	replace := fmt.Sprintf("\nreplace %s => %s\n", module, copied)
	if err := os.WriteFile(filepath.Join(out, "go.mod"), append(mod, replace...), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "go.sum"), sum, 0o644)
}

// patch replaces the exact-_id condition and adds idPushdown.
func patch(src string) (string, error) {
	if n := strings.Count(src, exactIDOnly); n != occurrences {
		return "", fmt.Errorf("%q appears %d times, not %d: is this FerretDB 1.24?", exactIDOnly, n, occurrences)
	}
	return strings.ReplaceAll(src, exactIDOnly, anyID) + idPushdownFunc, nil
}

// moduleDir is where the build list's FerretDB module lies in the module
// cache (downloading it if need be).
func moduleDir() (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(raw, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s named no folder: %v", module, err)
	}
	return m.Dir, nil
}
