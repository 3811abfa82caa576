package config_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/config"
)

func env(vars map[string]string) *config.Env {
	return config.New(func(name string) string { return vars[name] })
}

var everything = config.Service{Name: "tickets", Mongo: true, JWT: true, NATS: true}

func TestMissingRequiredVariablesAreAllNamedInOneError(t *testing.T) {
	e := env(map[string]string{"JWT_KEY": "   "})
	e.LoadCommon(everything)
	err := e.Err()
	require.Error(t, err)
	for _, name := range []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestOnlyWhatTheServiceNeedsIsRequired(t *testing.T) {
	e := env(map[string]string{"JWT_KEY": "a-key-0123456789abcdef-0123456789"})
	c := e.LoadCommon(config.Service{Name: "auth-lite", JWT: true})
	require.NoError(t, e.Err())
	assert.Equal(t, "a-key-0123456789abcdef-0123456789", c.JWTKey)
	assert.Empty(t, c.MongoURI)
	assert.Empty(t, c.NATSURL)
}

func TestDefaults(t *testing.T) {
	e := env(map[string]string{
		"MONGO_URI": "mongodb://db/tickets", "JWT_KEY": "a-key-0123456789abcdef-0123456789", "NATS_URL": "nats://nats:4222", "NATS_CLIENT_ID": "tickets-0",
	})
	c := e.LoadCommon(everything)
	window := e.Duration("ORDER_EXPIRATION_WINDOW", 15*time.Minute)
	workers := e.Int("WORKERS", 4)
	require.NoError(t, e.Err())
	assert.Equal(t, config.Common{
		Port:          "3000",
		MongoURI:      "mongodb://db/tickets",
		JWTKey:        "a-key-0123456789abcdef-0123456789",
		SessionTTL:    12 * time.Hour,
		PublicOrigins: []string{"https://ticketing.dev"},
		NATSURL:       "nats://nats:4222",
		NATSClusterID: "ticketing",
		NATSClientID:  "tickets-0",
		EventBus:      "stan",
		CookieSecure:  true,
		Metrics:       true,
		// The default transport, with the stream on one node.
		JetStreamReplicas: 1,
	}, c)
	assert.Equal(t, 15*time.Minute, window)
	assert.Equal(t, 4, workers)
	assert.Equal(t, ":3000", c.Addr(), "every interface, as in a container")
}

func TestSetValuesWin(t *testing.T) {
	e := env(map[string]string{
		"HOST": "127.0.0.1", "PORT": "4000", "NATS_CLUSTER_ID": "other", "COOKIE_SECURE": "false",
		"ORDER_EXPIRATION_WINDOW": "90s", "WORKERS": " 8 ", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4317",
	})
	c := e.LoadCommon(config.Service{Name: "x"})
	window := e.Duration("ORDER_EXPIRATION_WINDOW", 15*time.Minute)
	workers := e.Int("WORKERS", 4)
	require.NoError(t, e.Err())
	assert.Equal(t, "4000", c.Port)
	assert.Equal(t, "127.0.0.1:4000", c.Addr())
	assert.Equal(t, "other", c.NATSClusterID)
	assert.False(t, c.CookieSecure)
	assert.Equal(t, "http://otel-collector:4317", c.OTLPEndpoint)
	assert.Equal(t, 90*time.Second, window)
	assert.Equal(t, 8, workers)
}

func TestMalformedValuesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		read        func(e *config.Env)
	}{
		{"ORDER_EXPIRATION_WINDOW", "15", func(e *config.Env) { e.Duration("ORDER_EXPIRATION_WINDOW", time.Minute) }},
		{"ORDER_EXPIRATION_WINDOW", "soon", func(e *config.Env) { e.Duration("ORDER_EXPIRATION_WINDOW", time.Minute) }},
		{"ORDER_EXPIRATION_WINDOW", "-1m", func(e *config.Env) { e.Duration("ORDER_EXPIRATION_WINDOW", time.Minute) }},
		{"ORDER_EXPIRATION_WINDOW", "0s", func(e *config.Env) { e.Duration("ORDER_EXPIRATION_WINDOW", time.Minute) }},
		{"COOKIE_SECURE", "yes", func(e *config.Env) { e.Bool("COOKIE_SECURE", true) }},
		{"COOKIE_SECURE", "off", func(e *config.Env) { e.Bool("COOKIE_SECURE", true) }},
		{"WORKERS", "four", func(e *config.Env) { e.Int("WORKERS", 4) }},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			e := env(map[string]string{tc.name: tc.value})
			tc.read(e)
			err := e.Err()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.name)
			assert.Contains(t, err.Error(), tc.value)
		})
	}
}

func TestMissingAndMalformedAreReportedTogether(t *testing.T) {
	e := env(map[string]string{"COOKIE_SECURE": "maybe"})
	e.LoadCommon(config.Service{Name: "x", Mongo: true})
	err := e.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MONGO_URI")
	assert.Contains(t, err.Error(), "COOKIE_SECURE")
}

func TestLogLevel(t *testing.T) {
	e := config.New(func(k string) string { return map[string]string{"LOG_LEVEL": "debug"}[k] })
	assert.Equal(t, slog.LevelDebug, e.LoadCommon(config.Service{Name: "x"}).LogLevel)
	require.NoError(t, e.Err())

	e = config.New(func(string) string { return "" })
	assert.Equal(t, slog.LevelInfo, e.LoadCommon(config.Service{Name: "x"}).LogLevel, "info by default")

	e = config.New(func(k string) string { return map[string]string{"LOG_LEVEL": "chatty"}[k] })
	e.LoadCommon(config.Service{Name: "x"})
	require.Error(t, e.Err())
	assert.Contains(t, e.Err().Error(), `LOG_LEVEL="chatty" is not debug, info, warn or error`)
}

func TestBrokerCredentialsAreReadAndGoTogether(t *testing.T) {
	base := map[string]string{"NATS_URL": "nats://nats:4222", "NATS_CLIENT_ID": "tickets-0"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	e := env(with(map[string]string{"NATS_USER": "tickets", "NATS_PASSWORD": "s3cret"}))
	c := e.LoadCommon(config.Service{Name: "tickets", NATS: true})
	require.NoError(t, e.Err())
	assert.Equal(t, "tickets", c.NATSUser)
	assert.Equal(t, "s3cret", c.NATSPassword)

	for _, half := range []map[string]string{{"NATS_USER": "tickets"}, {"NATS_PASSWORD": "s3cret"}} {
		e := env(with(half))
		e.LoadCommon(config.Service{Name: "tickets", NATS: true})
		require.ErrorContains(t, e.Err(), "NATS_USER and NATS_PASSWORD go together")
	}
}

func TestTheEventBusIsChosenByEventBus(t *testing.T) {
	base := map[string]string{"NATS_URL": "nats://nats:4222", "NATS_CLIENT_ID": "tickets-0"}
	e := env(base)
	c := e.LoadCommon(config.Service{Name: "tickets", NATS: true})
	require.NoError(t, e.Err())
	assert.Equal(t, "stan", c.EventBus, "NATS Streaming stays the default")
	assert.Equal(t, 1, c.JetStreamReplicas)

	base["EVENT_BUS"], base["JETSTREAM_REPLICAS"] = "jetstream", "3"
	e = env(base)
	c = e.LoadCommon(config.Service{Name: "tickets", NATS: true})
	require.NoError(t, e.Err())
	assert.Equal(t, "jetstream", c.EventBus)
	assert.Equal(t, 3, c.JetStreamReplicas)

	base["EVENT_BUS"], base["JETSTREAM_REPLICAS"] = "kafka", "0"
	e = env(base)
	e.LoadCommon(config.Service{Name: "tickets", NATS: true})
	require.ErrorContains(t, e.Err(), `EVENT_BUS="kafka" is not stan or jetstream`)
	require.ErrorContains(t, e.Err(), "JETSTREAM_REPLICAS must be 1 to 5")
}

func TestPublicOriginsDefaultToTheIngressAndAreParsed(t *testing.T) {
	e := env(map[string]string{})
	assert.Equal(t, []string{"https://ticketing.dev"}, e.LoadCommon(config.Service{Name: "tickets"}).PublicOrigins)
	require.NoError(t, e.Err())

	e = env(map[string]string{"PUBLIC_ORIGINS": " http://127.0.0.1:8080, HTTP://localhost:8080/ "})
	assert.Equal(t, []string{"http://127.0.0.1:8080", "http://localhost:8080"}, e.LoadCommon(config.Service{Name: "tickets"}).PublicOrigins)
	require.NoError(t, e.Err())
}

func TestMalformedPublicOriginsAreNamed(t *testing.T) {
	for _, v := range []string{"ticketing.dev", "https://ticketing.dev/app", "ftp://ticketing.dev", " , "} {
		e := env(map[string]string{"PUBLIC_ORIGINS": v})
		e.LoadCommon(everything)
		require.ErrorContains(t, e.Err(), "PUBLIC_ORIGINS", v)
	}
}

func TestWeakJWTKeysAreRefusedByName(t *testing.T) {
	for _, weak := range []string{
		"short-key", // under 32 bytes
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // one byte repeated
		"abcabcabcabcabcabcabcabcabcabcabcabc",     // few distinct bytes
		"0123456789abcdef0123456789abcdef",         // a repeated pattern
	} {
		e := env(map[string]string{"JWT_KEY": weak})
		e.LoadCommon(config.Service{Name: "auth-lite", JWT: true})
		err := e.Err()
		require.Error(t, err, weak)
		assert.Contains(t, err.Error(), "JWT_KEY", weak)
	}
	e := env(map[string]string{"JWT_KEY": "0f3a9c81d27e4b56a0c3e8f1947d2b6c5e0a"})
	e.LoadCommon(config.Service{Name: "auth-lite", JWT: true})
	assert.NoError(t, e.Err(), "a random key is accepted")
}

func TestSessionTTLIsRead(t *testing.T) {
	e := env(map[string]string{"JWT_KEY": "a-key-0123456789abcdef-0123456789", "SESSION_TTL": "90m"})
	c := e.LoadCommon(config.Service{Name: "auth-lite", JWT: true})
	require.NoError(t, e.Err())
	assert.Equal(t, 90*time.Minute, c.SessionTTL)
}

func TestMetricsAreOnOrOff(t *testing.T) {
	assert.True(t, env(map[string]string{}).LoadCommon(config.Service{Name: "x"}).Metrics, "on by default")
	assert.False(t, env(map[string]string{"METRICS": "off"}).LoadCommon(config.Service{Name: "x"}).Metrics)
	e := env(map[string]string{"METRICS": "maybe"})
	assert.True(t, e.LoadCommon(config.Service{Name: "x"}).Metrics, "the default stays")
	require.ErrorContains(t, e.Err(), `METRICS="maybe" is not on or off`)
}
