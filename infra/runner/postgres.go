package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// FerretDB's backends (FERRETDB_BACKEND). SQLite is files in the data folder
// and nothing else to run; PostgreSQL is a cluster of the runner's own in the
// data folder, which FerretDB 1.24 queries with indexes where SQLite scans
// (docs/benchmarks.md, "The embedded database: SQLite or PostgreSQL").
const (
	backendSQLite     = "sqlite"
	backendPostgreSQL = "postgresql"
)

var ferretBackends = []string{backendSQLite, backendPostgreSQL}

const (
	// postgresPool is FerretDB's pool of connections to PostgreSQL. Its
	// default, 50, opens a backend per connection in a burst, and two CPUs
	// cannot run 50 queries at once: the flash sale at 50 in flight measured
	// p99 865 ms and 130 MiB (PSS) with 50, 540 ms and 90 MiB with 8
	// (docs/benchmarks.md).
	postgresPool = 8
	// postgresMaxConnections leaves room beyond the pool for psql.
	postgresMaxConnections = postgresPool + 4
	// postgresUser is the cluster's only role, a superuser: FerretDB makes a
	// schema per MongoDB database. Its password is in credentials.json.
	postgresUser = "ticketing"
	// postgresSystemUser runs PostgreSQL when the runner runs as root, which
	// PostgreSQL refuses; Debian's package creates it.
	postgresSystemUser = "postgres"
)

// postgresDir is the cluster's folder in the data folder.
func (c config) postgresDir() string { return filepath.Join(c.DataDir, "postgresql") }

func (c config) onPostgres() bool { return c.FerretDBBackend == backendPostgreSQL }

// postgresURL is how FerretDB reaches the cluster, with its small pool.
func (sys *system) postgresURL() string {
	return fmt.Sprintf("postgres://%s:%s@%s/postgres?pool_max_conns=%d",
		postgresUser, sys.creds.PostgreSQL, sys.local(offPostgres), postgresPool)
}

// postgresSpec is the cluster's server, on loopback only and without a Unix
// socket, refusing any client without the password.
func (sys *system) postgresSpec() spec {
	return spec{Name: "postgresql", Path: sys.postgresBin, Port: sys.cfg.BasePort + offPostgres,
		Dir: sys.cfg.postgresDir(), Credential: sys.postgresAs,
		Args: []string{"-D", sys.cfg.postgresDir(), "-p", strconv.Itoa(sys.cfg.BasePort + offPostgres),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
			"-c", "max_connections=" + strconv.Itoa(postgresMaxConnections),
			// The data is a test marketplace's: a small cache, as FerretDB's
			// SQLite files have.
			"-c", "shared_buffers=32MB", "-c", "log_min_messages=warning", "-c", "log_checkpoints=off"}}
}

// preparePostgres finds PostgreSQL's programs and, the first time, makes the
// cluster. initdb writes into a folder beside the cluster's, renamed into
// place once complete: a run stopped half-way leaves nothing that a later run
// would take for a cluster.
func (sys *system) preparePostgres(ctx context.Context) error {
	initdb, err := lookPostgres(sys.bin, "initdb")
	if err != nil {
		return err
	}
	if sys.postgresBin, err = lookPostgres(sys.bin, "postgres"); err != nil {
		return err
	}
	if sys.postgresAs, err = postgresCredential(); err != nil {
		return err
	}
	dir := sys.cfg.postgresDir()
	if exists(filepath.Join(dir, "PG_VERSION")) {
		return nil
	}
	if err := reachableBy(sys.postgresAs, filepath.Dir(dir)); err != nil {
		return err
	}
	fresh, pwfile := dir+".new", dir+".password"
	defer os.Remove(pwfile)
	if err := os.RemoveAll(fresh); err != nil {
		return err
	}
	if err := os.Mkdir(fresh, 0o700); err != nil {
		return err
	}
	if err := writePrivate(pwfile, []byte(sys.creds.PostgreSQL+"\n")); err != nil {
		return err
	}
	if err := chownTo(sys.postgresAs, fresh, pwfile); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, initdb, "-D", fresh, "-U", postgresUser, "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions")
	cmd.Dir = fresh
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: sys.postgresAs}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", fresh, err, out)
	}
	return os.Rename(fresh, dir)
}

// postgresCredential is who PostgreSQL runs as: the runner's own user, or
// postgresSystemUser when the runner is root.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(postgresSystemUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no user %q to run it as (Debian's postgresql package creates it): %w", postgresSystemUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	// Its own groups only: root's supplementary groups would go with it.
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, err
		}
		cred.Groups = append(cred.Groups, uint32(g))
	}
	return cred, nil
}

// reachableBy fails, saying what to do, when as (nil: the runner's own user)
// cannot reach dir: a folder on the way that only root may enter.
func reachableBy(as *syscall.Credential, dir string) error {
	if as == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		if info.Mode().Perm()&0o001 == 0 && (st == nil || st.Uid != as.Uid) {
			return fmt.Errorf("PostgreSQL runs as %s (it refuses root), who may not enter %s: let others enter it (chmod o+x), or choose another DATA_DIR", postgresSystemUser, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func chownTo(as *syscall.Credential, paths ...string) error {
	if as == nil {
		return nil
	}
	var errs []error
	for _, p := range paths {
		errs = append(errs, os.Chown(p, int(as.Uid), int(as.Gid)))
	}
	return errors.Join(errs...)
}

// lookPostgres finds a PostgreSQL program in bin/, on PATH, or where
// Debian's package puts it (/usr/lib/postgresql/<version>/bin, off PATH),
// the newest version first.
func lookPostgres(bin, name string) (string, error) {
	if p, err := lookBinary(bin, name); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob(filepath.Join("/usr/lib/postgresql", "*", "bin", name))
	sort.Slice(found, func(i, j int) bool { return postgresVersion(found[i]) > postgresVersion(found[j]) })
	if len(found) > 0 {
		return found[0], nil
	}
	return "", fmt.Errorf("%s not found in %s, PATH or /usr/lib/postgresql/*/bin: FERRETDB_BACKEND=%s needs PostgreSQL (`make deps` installs Debian's package)", name, bin, backendPostgreSQL)
}

// postgresVersion is the major version in /usr/lib/postgresql/<version>/bin/x.
func postgresVersion(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}
