package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"ticketing.dev/common/testenv"
)

// Binaries are built once per package run, into one temporary directory that
// goes when the run ends (testenv.Main).
var (
	buildMu   sync.Mutex
	buildDir  string
	built     = map[string]*buildResult{}
	rootOnce  sync.Once
	rootDir   string
	errRootNF = errors.New("no go.work above the test's directory")
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of service name's binary, built from the workspace
// (`go build ./<name>`, with -race when the test has it) the first time it is
// asked for in this package run.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "systemtest-bin-")
		if err != nil {
			buildMu.Unlock()
			t.Fatalf("harness: %v", err)
		}
		buildDir = dir
		testenv.OnExit(func() { os.RemoveAll(dir) })
	}
	r, ok := built[name]
	if !ok {
		r = &buildResult{}
		built[name] = r
	}
	dir := buildDir
	buildMu.Unlock()

	r.once.Do(func() { r.path, r.err = build(name, dir) })
	if r.err != nil {
		t.Fatalf("harness: %v", r.err)
	}
	return r.path
}

func build(name, dir string) (string, error) {
	root, err := workspaceRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	args := []string{"build", "-buildvcs=false", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", name, err, msg)
	}
	return out, nil
}

// workspaceRoot is the directory holding go.work, above the test's own.
func workspaceRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if rootDir == "" {
		return "", errRootNF
	}
	return rootDir, nil
}
