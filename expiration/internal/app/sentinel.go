package app

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/config"
)

// loadSentinel reads a replicated Redis: REDIS_SENTINELS, a comma-separated
// list of host:port, with REDIS_MASTER_NAME, the name the sentinels monitor
// the primary under, and REDIS_PASSWORD, what the primary and its replicas
// demand (the sentinels themselves demand none; the NetworkPolicy admits only
// expiration and the members). It returns nil, nil when REDIS_SENTINELS is
// unset: REDIS_URL's one server then, as in development and `make run`.
// The three go together, and REDIS_URL may not be set beside them, so a
// half-configured deployment fails at start-up rather than at the first
// failover.
func loadSentinel(env *config.Env) (*redis.FailoverOptions, error) {
	list := env.String("REDIS_SENTINELS", "")
	master := env.String("REDIS_MASTER_NAME", "")
	password := env.String("REDIS_PASSWORD", "")
	if list == "" {
		if master != "" {
			return nil, errors.New("REDIS_MASTER_NAME is set without REDIS_SENTINELS")
		}
		return nil, nil
	}
	var problems []string
	addrs, err := sentinelAddrs(list)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if master == "" {
		problems = append(problems, "REDIS_SENTINELS needs REDIS_MASTER_NAME, the primary's name the sentinels monitor")
	}
	if password == "" {
		problems = append(problems, "REDIS_SENTINELS needs REDIS_PASSWORD: the servers and the sentinels demand one")
	}
	if env.String("REDIS_URL", "") != "" {
		problems = append(problems, "REDIS_URL and REDIS_SENTINELS are both set: set one")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return &redis.FailoverOptions{
		MasterName:    master,
		SentinelAddrs: addrs,
		Password:      password,
		// Sentinels demand the same password as the servers they watch.
		SentinelPassword: password,
	}, nil
}

// sentinelAddrs reads a comma-separated list of host:port, each once.
func sentinelAddrs(list string) ([]string, error) {
	var addrs []string
	seen := map[string]bool{}
	for _, part := range strings.Split(list, ",") {
		addr := strings.TrimSpace(part)
		host, port, err := net.SplitHostPort(addr)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("REDIS_SENTINELS: %q is not host:port", addr)
		}
		if seen[addr] {
			return nil, fmt.Errorf("REDIS_SENTINELS names %s twice", addr)
		}
		seen[addr] = true
		addrs = append(addrs, addr)
	}
	return addrs, nil
}
