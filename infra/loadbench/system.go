package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"ticketing.dev/infra/runner/launch"
)

// system is the marketplace under load: its gateway, its data folder (where
// the runner keeps each process's pid) and its database.
type system struct {
	baseURL  string
	dataDir  string
	mongoURI string
	natsURL  string
	// transport is the broker's protocol (EVENT_BUS), which whatever
	// watches the broker must speak.
	transport string
	// ownLimits says the signin limit per address was raised for this run
	// (see signinLimitEnv); an attached system keeps whatever it has.
	ownLimits bool
	logPath   string
	stop      func(keep bool)
}

// goServices are the processes the memory targets are about. The runner's
// other children (FerretDB, the broker, Redis, stripe-mock) are reported
// for information only.
var goServices = []string{"auth", "tickets", "orders", "expiration", "payments"}

// signinLimitEnv raises auth's per-address signin and signup limits, and
// orders' and payments' per-address limits, for a benchmark run only: every
// benchmark request reaches them from 127.0.0.1 through the gateway, which a
// real crowd does not. The per-email and per-user limits stay as they are;
// the benchmark spreads its requests over many users instead.
var signinLimitEnv = []string{
	"SIGNIN_ADDRESS_BURST=1000000", "SIGNIN_ADDRESS_EVERY=1ms",
	"SIGNUP_ADDRESS_BURST=1000000", "SIGNUP_ADDRESS_EVERY=1ms",
	"RESERVE_ADDRESS_BURST=1000000", "RESERVE_ADDRESS_EVERY=1ms",
	"PAY_ADDRESS_BURST=1000000", "PAY_ADDRESS_EVERY=1ms",
}

// startSystem runs bin/runner on free ports with a temporary data folder and
// waits until its gateway answers (infra/runner/launch), its broker on
// transport (EVENT_BUS); env is added to the runner's environment, which its
// services inherit.
func startSystem(ctx context.Context, root, transport string, env ...string) (*system, error) {
	tmp, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return nil, err
	}
	// With FERRETDB_BACKEND=postgresql a runner run by root runs PostgreSQL
	// as user postgres, who must be able to enter the data folder's parent.
	// What is secret in it (credentials.json) is the runner's alone.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(tmp, "data")
	logPath := filepath.Join(tmp, "runner.log")
	r, err := launch.Start(ctx, launch.Options{
		Root: root, DataDir: dataDir, LogPath: logPath,
		Env: append(append([]string{"NO_CLIENT=1", "EVENT_BUS=" + transport}, signinLimitEnv...), env...),
	})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &system{
		baseURL:   r.BaseURL,
		dataDir:   dataDir,
		mongoURI:  fmt.Sprintf("mongodb://127.0.0.1:%d/", r.BasePort),
		natsURL:   fmt.Sprintf("nats://127.0.0.1:%d", r.BasePort+1),
		transport: transport,
		ownLimits: true,
		logPath:   logPath,
		stop: func(keep bool) {
			_ = r.Stop()
			if !keep {
				os.RemoveAll(tmp)
			}
		},
	}, nil
}

// attachSystem uses a system someone else runs, its broker on transport.
func attachSystem(ctx context.Context, baseURL, dataDir string, basePort int, transport string) (*system, error) {
	s := &system{
		baseURL:   strings.TrimSuffix(baseURL, "/"),
		dataDir:   dataDir,
		mongoURI:  fmt.Sprintf("mongodb://127.0.0.1:%d/", basePort),
		natsURL:   fmt.Sprintf("nats://127.0.0.1:%d", basePort+1),
		transport: transport,
		stop:      func(bool) {},
	}
	if len(s.pids()) == 0 {
		return nil, fmt.Errorf("no pid files in %s: is DATA_DIR the running system's data folder?", filepath.Join(dataDir, "run"))
	}
	return s, launch.WaitReady(ctx, s.baseURL, 10*time.Second, nil)
}

// pids reads the runner's pid files: process name -> pid. "gateway" is nginx,
// the load's front door. The runner itself only watches over them; it is not
// counted, and counting it with its children would count them twice.
func (s *system) pids() map[string]int {
	return launch.PIDs(s.dataDir)
}

// goMaxProcs reads GOMAXPROCS from a process's environment.
func goMaxProcs(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return 0, false
	}
	return envInt(string(b), "GOMAXPROCS")
}

// envInt finds name=<whole number> in a NUL-separated environment block.
func envInt(environ, name string) (int, bool) {
	for _, kv := range strings.Split(environ, "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil && n > 0
		}
	}
	return 0, false
}

// openSystem attaches to the system opts names, or starts one of its own;
// its stop says where the runner's log is when -keep kept it.
func openSystem(ctx context.Context, opts config, out io.Writer) (*system, error) {
	var sys *system
	var err error
	if opts.BaseURL != "" {
		fmt.Fprintf(out, "driving the running system at %s (data folder %s, EVENT_BUS=%s)\n", opts.BaseURL, opts.DataDir, opts.Bus)
		sys, err = attachSystem(ctx, opts.BaseURL, opts.DataDir, opts.BasePort, opts.Bus)
	} else {
		root, rerr := repoRoot(opts)
		if rerr != nil {
			return nil, rerr
		}
		fmt.Fprintf(out, "starting a system of its own (bin/runner, NO_CLIENT=1, EVENT_BUS=%s, a temporary data folder, free ports; FerretDB on %s)\n",
			opts.Bus, cmp.Or(os.Getenv("FERRETDB_BACKEND"), "sqlite"))
		sys, err = startSystem(ctx, root, opts.Bus, opts.saleEnv()...)
	}
	if err != nil {
		return nil, err
	}
	stop := sys.stop
	sys.stop = func(keep bool) {
		stop(keep)
		if keep && sys.logPath != "" {
			fmt.Fprintf(out, "kept the runner's log: %s\n", sys.logPath)
		}
	}
	return sys, nil
}
