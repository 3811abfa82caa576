package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the name NewRedisSentinel's sentinels monitor the
// primary under (REDIS_MASTER_NAME).
const SentinelMaster = "testenv"

// RedisSentinel is a replicated Redis of one test's own, as production runs
// expiration's: a primary, a replica of it and three sentinels that watch
// them and promote the replica when the primary goes. Every server and
// sentinel demands Password.
type RedisSentinel struct {
	// Primary and Replica are the two servers as they started; after a
	// failover the replica is the primary.
	Primary, Replica *Redis
	// Sentinels are the sentinels' host:port addresses (REDIS_SENTINELS).
	Sentinels []string
	Password  string
	sentinels []*process
}

// NewRedisSentinel starts a primary, a replica and three sentinels (quorum
// two) on loopback, from Debian's redis-server (redis-sentinel is the same
// binary in sentinel mode). The sentinels call the primary down after 1 s
// without an answer, so a failover takes a few seconds. It returns once the
// replica has synchronised and every sentinel knows both the replica and
// the other sentinels, so a failover can start at once.
func NewRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	password := RandomName("redis-pw")
	rs := &RedisSentinel{Password: password}
	primary, err := startRedis(false, password, "--masterauth", password)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(primary.shutdown)
	host, port, _ := strings.Cut(primary.Addr, ":")
	replica, err := startRedis(false, password, "--masterauth", password, "--replicaof", host, port)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(replica.shutdown)
	rs.Primary, rs.Replica = primary, replica
	for range 3 {
		p, addr, dir, err := startSentinel(primary.Addr, password)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		t.Cleanup(func() { p.stop(); os.RemoveAll(dir) })
		rs.sentinels = append(rs.sentinels, p)
		rs.Sentinels = append(rs.Sentinels, addr)
	}
	if err := rs.waitSettled(30 * time.Second); err != nil {
		t.Fatalf("testenv: redis sentinel: %v", err)
	}
	return rs
}

func startSentinel(primary, password string) (p *process, addr, dir string, err error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", "", err
	}
	if dir, err = os.MkdirTemp("", "testenv-sentinel-"); err != nil {
		return nil, "", "", err
	}
	host, primaryPort, _ := strings.Cut(primary, ":")
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
requirepass %s
sentinel monitor %s %s %s 2
sentinel auth-pass %[4]s %[3]s
sentinel down-after-milliseconds %[4]s 1000
sentinel failover-timeout %[4]s 10000
sentinel parallel-syncs %[4]s 1
`, port, dir, password, SentinelMaster, host, primaryPort)
	// Sentinel rewrites its configuration file with what it learns.
	file := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, "", "", err
	}
	if p, err = startProcess("redis-server", port, file, "--sentinel"); err != nil {
		os.RemoveAll(dir)
		return nil, "", "", err
	}
	return p, fmt.Sprintf("127.0.0.1:%d", port), dir, nil
}

// waitSettled waits until the replica is in sync and every sentinel sees one
// replica and two other sentinels.
func (rs *RedisSentinel) waitSettled(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		problem := rs.unsettled()
		if problem == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %s: %s", timeout, problem)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (rs *RedisSentinel) unsettled() string {
	info, err := redisCommand(rs.Replica.Addr, rs.Password, "INFO", "replication")
	if err != nil || !strings.Contains(info, "master_link_status:up") {
		return fmt.Sprintf("the replica has not synchronised (%v)", err)
	}
	for _, addr := range rs.Sentinels {
		reply, err := redisCommand(addr, rs.Password, "SENTINEL", "MASTER", SentinelMaster)
		if err != nil {
			return fmt.Sprintf("sentinel %s: %v", addr, err)
		}
		fields := strings.Split(reply, "\n")
		for i := 0; i+1 < len(fields); i += 2 {
			if (fields[i] == "num-slaves" || fields[i] == "num-other-sentinels") && fields[i+1] != map[string]string{"num-slaves": "1", "num-other-sentinels": "2"}[fields[i]] {
				return fmt.Sprintf("sentinel %s: %s is %s", addr, fields[i], fields[i+1])
			}
		}
	}
	return ""
}

// PrimaryAddr is the primary's host:port as the first sentinel that answers
// names it.
func (rs *RedisSentinel) PrimaryAddr() (string, error) {
	var last error
	for _, addr := range rs.Sentinels {
		reply, err := redisCommand(addr, rs.Password, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		if err == nil {
			host, port, _ := strings.Cut(reply, "\n")
			return host + ":" + port, nil
		}
		last = err
	}
	return "", last
}

// KillPrimary kills the primary outright (SIGKILL), as a node failure
// would: it writes nothing more and answers no one.
func (rs *RedisSentinel) KillPrimary(t testing.TB) {
	t.Helper()
	rs.Primary.proc.kill()
}

// redisCommand authenticates and sends one command over a connection of its
// own, and returns its reply: a string, or an array's elements one a line.
// (common does not depend on a Redis client; this is all the helper needs.)
func redisCommand(addr, password string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	for _, cmd := range [][]string{{"AUTH", password}, args} {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := io.WriteString(c, b.String()); err != nil {
			return "", err
		}
		reply, err := readReply(r)
		if err != nil {
			return "", fmt.Errorf("%s: %w", cmd[0], err)
		}
		if cmd[0] != "AUTH" {
			return reply, nil
		}
	}
	return "", nil
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", errors.New(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(r, buf)
		return string(buf[:n]), err
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", errors.New("nil array")
		}
		items := make([]string, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(items, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// Command sends one command, authenticated, to a server or sentinel of the
// set at addr and returns its reply (an array's elements one a line).
func (rs *RedisSentinel) Command(addr string, args ...string) (string, error) {
	return redisCommand(addr, rs.Password, args...)
}
