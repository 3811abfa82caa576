// Package config reads a service's settings from the environment (DESIGN.md §7).
// Lookups collect every problem, so a service that is missing three variables
// says so once, naming all three, instead of failing on the first.
package config

import (
	"ticketing.dev/common/session"

	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through a lookup function (os.Getenv in main, a map in tests).
type Env struct {
	getenv   func(string) string
	missing  []string
	problems []string
}

// New returns an Env reading through getenv.
func New(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Required returns the value of name and records it as missing when empty.
func (e *Env) Required(name string) string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		e.missing = append(e.missing, name)
	}
	return v
}

// String returns the value of name, or def when unset.
func (e *Env) String(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// Duration parses name as a Go duration ("15m"), or returns def when unset.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	return parse(e, name, def, "a positive duration such as 15m", func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err == nil && d <= 0 {
			err = errors.New("not positive")
		}
		return d, err
	})
}

// DurationOrZero is Duration for a setting where 0 turns something off.
func (e *Env) DurationOrZero(name string, def time.Duration) time.Duration {
	return parse(e, name, def, "a duration such as 1s, or 0", func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = errors.New("negative")
		}
		return d, err
	})
}

// Bool parses name as a boolean, or returns def when unset.
func (e *Env) Bool(name string, def bool) bool {
	return parse(e, name, def, "true or false", strconv.ParseBool)
}

// Switch parses name as on or off, or returns def when unset.
func (e *Env) Switch(name string, def bool) bool {
	return parse(e, name, def, "on or off", func(v string) (bool, error) {
		switch v {
		case "on":
			return true, nil
		case "off":
			return false, nil
		}
		return false, errors.New("neither on nor off")
	})
}

// Int parses name as an integer, or returns def when unset.
func (e *Env) Int(name string, def int) int {
	return parse(e, name, def, "a whole number", strconv.Atoi)
}

// Level parses name as a log level (debug, info, warn, error), or returns def when unset.
func (e *Env) Level(name string, def slog.Level) slog.Level {
	return parse(e, name, def, "debug, info, warn or error", func(v string) (slog.Level, error) {
		var l slog.Level
		err := l.UnmarshalText([]byte(v))
		return l, err
	})
}

// parse reads name with read, or returns def when unset; a value read
// refuses is recorded as a problem saying what it should be (want).
func parse[T any](e *Env, name string, def T, want string, read func(string) (T, error)) T {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return def
	}
	x, err := read(v)
	if err != nil {
		e.problems = append(e.problems, fmt.Sprintf("%s=%q is not %s", name, v, want))
		return def
	}
	return x
}

// DefaultPublicOrigin is the ingress's origin (DESIGN.md §6): where
// PUBLIC_ORIGINS is unset, only pages served by the ingress may make unsafe
// requests.
const DefaultPublicOrigin = "https://ticketing.dev"

// Origins parses name as a comma-separated list of origins (https://host or
// http://host:port, no path), or returns def alone when unset. Origins are
// compared as browsers send them, so each is kept lower-case and without a
// trailing slash.
func (e *Env) Origins(name, def string) []string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return []string{def}
	}
	var origins []string
	for _, part := range strings.Split(v, ",") {
		origin := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(part), "/"))
		if origin == "" {
			continue
		}
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			e.problems = append(e.problems, fmt.Sprintf("%s: %q is not an origin such as https://ticketing.dev", name, part))
			continue
		}
		origins = append(origins, origin)
	}
	if len(origins) == 0 {
		e.problems = append(e.problems, fmt.Sprintf("%s=%q names no origin", name, v))
		return []string{def}
	}
	return origins
}

// Err reports every missing or malformed variable seen so far.
func (e *Env) Err() error {
	var parts []string
	if len(e.missing) > 0 {
		parts = append(parts, "missing required environment variable(s): "+strings.Join(e.missing, ", "))
	}
	parts = append(parts, e.problems...)
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}

// Common holds the settings every service shares.
type Common struct {
	// Host is the address to listen on; empty, every interface (as in a
	// container). The local runner sets 127.0.0.1: only its gateway is for people.
	Host          string
	Port          string
	MongoURI      string
	JWTKey        string
	NATSURL       string
	NATSClusterID string
	NATSClientID  string
	// NATSUser and NATSPassword are the service's own broker credentials
	// (NATS_USER, NATS_PASSWORD): the broker lets each user publish only the
	// channels its service owns (common/bus, access.go).
	NATSUser     string
	NATSPassword string
	// EventBus (EVENT_BUS, stan or jetstream, default stan) is the bus's
	// transport: NATS Streaming or JetStream (common/bus).
	EventBus string
	// JetStreamReplicas (JETSTREAM_REPLICAS, default 1) is how many copies
	// of the event stream JetStream keeps: 3 on a 3-node cluster.
	JetStreamReplicas int
	CookieSecure      bool
	// TrustProxy (TRUST_PROXY, default false) reads a client's address from
	// the last X-Forwarded-For hop, which our own ingress or gateway appends:
	// what the rate limits count per address. Set it only behind them.
	TrustProxy bool
	// PublicOrigins are the origins (scheme://host[:port]) whose pages may
	// make unsafe requests: the ingress's or the gateway's own. A browser
	// request from any other origin is refused (middleware.Origins).
	PublicOrigins []string
	// SessionTTL is a session's absolute lifetime (SESSION_TTL, default 12h).
	SessionTTL time.Duration
	// LogLevel is the lowest level logged: debug shows every request.
	LogLevel slog.Level
	// Metrics (METRICS, on or off, default on) serves /metrics and counts
	// for it; off, so a benchmark can measure what counting costs.
	Metrics bool
	// OTLPEndpoint (OTEL_EXPORTER_OTLP_ENDPOINT, default none) is the
	// OpenTelemetry collector spans are exported to over OTLP gRPC
	// (common/tracing); empty, nothing is traced.
	OTLPEndpoint string
}

// Addr is where the HTTP server listens: HOST and PORT.
func (c Common) Addr() string { return net.JoinHostPort(c.Host, c.Port) }

// Service names the parts of Common a service needs.
type Service struct {
	Name  string // default NATS client id prefix and database name
	Mongo bool
	JWT   bool
	NATS  bool
}

// LoadCommon reads the shared settings a service declares it needs.
func (e *Env) LoadCommon(s Service) Common {
	c := Common{
		Host:          e.String("HOST", ""),
		Port:          e.String("PORT", "3000"),
		NATSClusterID: e.String("NATS_CLUSTER_ID", "ticketing"),
		CookieSecure:  e.Bool("COOKIE_SECURE", true),
		TrustProxy:    e.Bool("TRUST_PROXY", false),
		LogLevel:      e.Level("LOG_LEVEL", slog.LevelInfo),
		Metrics:       e.Switch("METRICS", true),
		OTLPEndpoint:  e.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		PublicOrigins: e.Origins("PUBLIC_ORIGINS", DefaultPublicOrigin),
	}
	if s.Mongo {
		c.MongoURI = e.Required("MONGO_URI")
	}
	if s.JWT {
		c.JWTKey = e.Required("JWT_KEY")
		if c.JWTKey != "" {
			if err := session.CheckKey(c.JWTKey); err != nil {
				e.problems = append(e.problems, err.Error())
			}
		}
		c.SessionTTL = e.Duration("SESSION_TTL", session.DefaultTTL)
		if c.SessionTTL <= 0 {
			e.problems = append(e.problems, "SESSION_TTL must be positive")
		}
	}
	if s.NATS {
		c.NATSURL = e.Required("NATS_URL")
		c.NATSClientID = e.Required("NATS_CLIENT_ID")
		// Optional, for a broker without users (a test's); an authenticated
		// broker refuses a service without them, and readiness says so.
		c.NATSUser = e.String("NATS_USER", "")
		c.NATSPassword = e.String("NATS_PASSWORD", "")
		if (c.NATSUser == "") != (c.NATSPassword == "") {
			e.problems = append(e.problems, "NATS_USER and NATS_PASSWORD go together: set both or neither")
		}
		c.EventBus = e.String("EVENT_BUS", "stan")
		if c.EventBus != "stan" && c.EventBus != "jetstream" {
			e.problems = append(e.problems, fmt.Sprintf("EVENT_BUS=%q is not stan or jetstream", c.EventBus))
		}
		c.JetStreamReplicas = e.Int("JETSTREAM_REPLICAS", 1)
		if c.JetStreamReplicas < 1 || c.JetStreamReplicas > 5 {
			e.problems = append(e.problems, "JETSTREAM_REPLICAS must be 1 to 5")
		}
	}
	return c
}

// Settings returns c. A service's Config embeds Common, and so answers
// Settings for common/service, which reads only the shared part.
func (c Common) Settings() Common { return c }
