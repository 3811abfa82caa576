package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/session"
	"ticketing.dev/infra/runner/launch"
)

// config is what the runner reads from its environment.
type config struct {
	// Root is the repository root (binaries in Root/bin, client in Root/client).
	Root string
	// DataDir holds every process's data; delete it to start afresh.
	DataDir string
	// GatewayPort is the one port people use.
	GatewayPort int
	// BasePort is the first of the internal ports (infrastructure, services, client).
	BasePort int
	// Host the gateway binds to.
	Host string

	ExpirationWindow string
	StripeKey        string
	StripeAPIBase    string
	StripePublishKey string
	// StripeWebhookSecret is what `stripe listen` printed (with a real key).
	StripeWebhookSecret string
	JWTKey              string
	// PublicOrigins, when set, replaces the gateway's own origins as the
	// pages allowed to make unsafe requests (a gateway reached by another
	// name than this machine's loopback).
	PublicOrigins string
	// NoClient runs the API alone even when the client is built.
	NoClient bool
	// NoGatewayCache (GATEWAY_CACHE=off) turns the gateway's micro-cache of
	// the public reads off, for benchmarks of the path behind it.
	NoGatewayCache bool
	// GoMaxProcs is GOMAXPROCS as the runner was given it; empty, each
	// service runs with the one CPU its Deployment's limit gives it.
	GoMaxProcs string
	// ReadyTimeout bounds how long a process may take to become ready.
	ReadyTimeout time.Duration
	// EventBus (EVENT_BUS) is the broker the system runs on: bus.TransportStan
	// (NATS Streaming, the default) or bus.TransportJetStream (nats-server
	// with JetStream). Every service and the redrive command get it.
	EventBus string
	// FerretDBBackend (FERRETDB_BACKEND) is what FerretDB keeps the data in:
	// backendSQLite (the default) or backendPostgreSQL, a cluster of the
	// runner's own in the data folder.
	FerretDBBackend string
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Root:                getenv("TICKETING_ROOT"),
		DataDir:             getenv("DATA_DIR"),
		Host:                orDefault(getenv("GATEWAY_HOST"), "127.0.0.1"),
		ExpirationWindow:    getenv("ORDER_EXPIRATION_WINDOW"),
		StripeKey:           getenv("STRIPE_KEY"),
		StripeAPIBase:       getenv("STRIPE_API_BASE"),
		StripePublishKey:    getenv("STRIPE_PUBLISHABLE_KEY"),
		StripeWebhookSecret: getenv("STRIPE_WEBHOOK_SECRET"),
		JWTKey:              getenv("JWT_KEY"),
		PublicOrigins:       getenv("PUBLIC_ORIGINS"),
		NoClient:            getenv("NO_CLIENT") == "1" || getenv("NO_CLIENT") == "true",
		NoGatewayCache:      getenv("GATEWAY_CACHE") == "off",
		GoMaxProcs:          getenv("GOMAXPROCS"),
		ReadyTimeout:        90 * time.Second,
		EventBus:            orDefault(getenv("EVENT_BUS"), bus.TransportStan),
		FerretDBBackend:     orDefault(getenv("FERRETDB_BACKEND"), backendSQLite),
	}
	var errs []error
	var err error
	if !slices.Contains(bus.Transports, cfg.EventBus) {
		errs = append(errs, fmt.Errorf("EVENT_BUS=%q is not one of %s", cfg.EventBus, strings.Join(bus.Transports, ", ")))
	}
	if !slices.Contains(ferretBackends, cfg.FerretDBBackend) {
		errs = append(errs, fmt.Errorf("FERRETDB_BACKEND=%q is not one of %s", cfg.FerretDBBackend, strings.Join(ferretBackends, ", ")))
	}
	if cfg.GatewayPort, err = port(getenv, "GATEWAY_PORT", 8080); err != nil {
		errs = append(errs, err)
	}
	if cfg.BasePort, err = port(getenv, "BASE_PORT", 4100); err != nil {
		errs = append(errs, err)
	}
	if cfg.ExpirationWindow != "" {
		if d, err := time.ParseDuration(cfg.ExpirationWindow); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("ORDER_EXPIRATION_WINDOW=%q is not a positive duration such as 2m", cfg.ExpirationWindow))
		}
	}
	if cfg.Root == "" {
		if cfg.Root, err = launch.RepoRoot(); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(cfg.Root, ".data")
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func port(getenv func(string) string, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port number", name, v)
	}
	return n, nil
}

// publicOrigins is what the services get as PUBLIC_ORIGINS: the gateway's
// origin under each name a browser on this machine reaches it by. Any other
// port of localhost is another origin, and its pages are refused.
func (c config) publicOrigins() string {
	if c.PublicOrigins != "" {
		return c.PublicOrigins
	}
	port := strconv.Itoa(c.GatewayPort)
	origins := []string{"http://localhost:" + port, "http://127.0.0.1:" + port}
	if h := displayHost(c.Host); h != "localhost" {
		origins = append(origins, "http://"+net.JoinHostPort(h, port))
	}
	return strings.Join(origins, ",")
}

// serviceEnv is the environment the Go service name gets beyond its own
// settings: GOMAXPROCS as its Deployment's CPU limit sets it in Kubernetes.
// Here it would default to every CPU of the machine, and five services each
// keeping several threads spinning for work cost a fifth of the tickets
// service's CPU per request on two cores (0.20 -> 0.16 ms, infra/loadbench).
// Each service's limit is one CPU, auth's two: its signins are argon2id
// hashes, run one per CPU it may use, and with one CPU a burst of signins
// queued behind a single hash while the other CPU idled. A GOMAXPROCS given
// to the runner wins.
func (c config) serviceEnv(name string) []string {
	switch {
	case c.GoMaxProcs != "":
		return nil
	case name == "auth":
		return []string{"GOMAXPROCS=2"}
	}
	return []string{"GOMAXPROCS=1"}
}

// jetStream reports whether the system runs on JetStream.
func (c config) jetStream() bool { return c.EventBus == bus.TransportJetStream }

// jwtKey returns the configured key, or one generated on first run and kept in
// the data folder, so sessions survive restarts and no key is ever committed.
func (c config) jwtKey() (string, error) {
	if c.JWTKey != "" {
		return c.JWTKey, nil
	}
	path := filepath.Join(c.DataDir, "jwt-key")
	if b, err := os.ReadFile(path); err == nil && session.CheckKey(strings.TrimSpace(string(b))) == nil {
		return strings.TrimSpace(string(b)), nil
	}
	key, err := randomSecret()
	if err != nil {
		return "", err
	}
	if err := writePrivate(path, []byte(key+"\n")); err != nil {
		return "", fmt.Errorf("saving generated JWT key: %w", err)
	}
	return key, nil
}

// credentials returns the stores' credentials kept in the data folder,
// generating (once) a random password for each broker user and for Redis that
// has none yet, so a run's broker and Redis admit only its own services and
// no password is ever committed or typed.
func (c config) credentials() (launch.Credentials, error) {
	creds, err := launch.ReadCredentials(c.DataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return creds, err
	}
	changed := false
	if creds.NATS == nil {
		creds.NATS = map[string]string{}
	}
	fill := func(v *string) error {
		if *v != "" {
			return nil
		}
		changed = true
		var err error
		*v, err = randomSecret()
		return err
	}
	for _, user := range bus.Users() {
		pw := creds.NATS[user]
		if err := fill(&pw); err != nil {
			return creds, err
		}
		creds.NATS[user] = pw
	}
	if err := fill(&creds.Redis); err != nil {
		return creds, err
	}
	if err := fill(&creds.PostgreSQL); err != nil {
		return creds, err
	}
	if !changed {
		return creds, nil
	}
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return creds, err
	}
	if err := writePrivate(filepath.Join(c.DataDir, launch.CredentialsFile), append(b, '\n')); err != nil {
		return creds, fmt.Errorf("saving generated credentials: %w", err)
	}
	return creds, nil
}

// randomSecret is 32 random bytes in hex: a password nobody guesses, in
// characters no configuration format or URL needs to escape.
func randomSecret() (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(buf), nil
}

// writePrivate writes a file only its owner may read, also when it existed
// with wider permissions.
func writePrivate(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
