package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/servicetest"
	"ticketing.dev/expiration/internal/app"
)

func TestMissingConfigurationIsNamed(t *testing.T) {
	// Optional: expiration has no database and no sessions.
	servicetest.RequiresSettings(t, app.Service, []string{"NATS_URL", "NATS_CLIENT_ID", "REDIS_URL"}, "MONGO_URI", "JWT_KEY")
}

func TestConfiguration(t *testing.T) {
	env := servicetest.Needed(app.Service)
	env["REDIS_URL"] = "redis://:secret@redis:6379/2"
	getenv := func(k string) string { return env[k] }
	cfg, err := app.Service.Config(getenv)
	require.NoError(t, err)
	assert.Equal(t, "3000", cfg.Port)
	assert.Equal(t, time.Second, cfg.CheckInterval)
	assert.Equal(t, time.Second, cfg.MarkerCheckInterval)
	assert.Equal(t, time.Hour, cfg.RebuildLookback, "covers orders' 15-minute window with room to spare")
	assert.Equal(t, "redis:6379", cfg.Redis.Addr)
	assert.Equal(t, 2, cfg.Redis.DB)
	assert.Equal(t, "secret", cfg.Redis.Password)

	env["EXPIRATION_CHECK_INTERVAL"] = "250ms"
	env["EXPIRATION_MARKER_CHECK_INTERVAL"] = "500ms"
	env["EXPIRATION_REBUILD_LOOKBACK"] = "2h"
	cfg, err = app.Service.Config(getenv)
	require.NoError(t, err)
	assert.Equal(t, 250*time.Millisecond, cfg.CheckInterval)
	assert.Equal(t, 500*time.Millisecond, cfg.MarkerCheckInterval)
	assert.Equal(t, 2*time.Hour, cfg.RebuildLookback)

	env["EXPIRATION_CHECK_INTERVAL"] = "soon"
	env["EXPIRATION_MARKER_CHECK_INTERVAL"] = "0s"
	env["EXPIRATION_REBUILD_LOOKBACK"] = "-1h"
	_, err = app.Service.Config(getenv)
	assert.ErrorContains(t, err, "EXPIRATION_CHECK_INTERVAL")
	assert.ErrorContains(t, err, "EXPIRATION_MARKER_CHECK_INTERVAL")
	assert.ErrorContains(t, err, "EXPIRATION_REBUILD_LOOKBACK")

	env["EXPIRATION_CHECK_INTERVAL"] = ""
	env["EXPIRATION_MARKER_CHECK_INTERVAL"] = ""
	env["EXPIRATION_REBUILD_LOOKBACK"] = ""
	env["REDIS_URL"] = "http://:secret@redis:6379"
	_, err = app.Service.Config(getenv)
	require.ErrorContains(t, err, "REDIS_URL")
	assert.NotContains(t, err.Error(), "secret", "a password in the URL never reaches the log")
}

func TestSentinelConfiguration(t *testing.T) {
	env := servicetest.Needed(app.Service)
	delete(env, "REDIS_URL")
	env["REDIS_SENTINELS"] = "expiration-redis-0.expiration-redis:26379, expiration-redis-1.expiration-redis:26379,10.0.0.3:26379"
	env["REDIS_MASTER_NAME"] = "expiration"
	env["REDIS_PASSWORD"] = "secret"
	getenv := func(k string) string { return env[k] }
	cfg, err := app.Service.Config(getenv)
	require.NoError(t, err, "REDIS_URL is not needed beside the sentinels")
	assert.Nil(t, cfg.Redis)
	require.NotNil(t, cfg.Sentinel)
	assert.Equal(t, []string{"expiration-redis-0.expiration-redis:26379", "expiration-redis-1.expiration-redis:26379", "10.0.0.3:26379"}, cfg.Sentinel.SentinelAddrs)
	assert.Equal(t, "expiration", cfg.Sentinel.MasterName)
	assert.Equal(t, "secret", cfg.Sentinel.Password)
	assert.Equal(t, "secret", cfg.Sentinel.SentinelPassword)

	for name, c := range map[string]struct {
		set  map[string]string
		want []string
	}{
		"no port":                          {map[string]string{"REDIS_SENTINELS": "expiration-redis-0"}, []string{`"expiration-redis-0" is not host:port`}},
		"bad port":                         {map[string]string{"REDIS_SENTINELS": "a:26379,b:http"}, []string{`"b:http" is not host:port`}},
		"empty entry":                      {map[string]string{"REDIS_SENTINELS": "a:26379,,b:26379"}, []string{`"" is not host:port`}},
		"twice":                            {map[string]string{"REDIS_SENTINELS": "a:26379,a:26379"}, []string{"names a:26379 twice"}},
		"no master name":                   {map[string]string{"REDIS_MASTER_NAME": ""}, []string{"REDIS_MASTER_NAME"}},
		"no password":                      {map[string]string{"REDIS_PASSWORD": ""}, []string{"REDIS_PASSWORD"}},
		"both":                             {map[string]string{"REDIS_URL": "redis://:secret@redis:6379/0"}, []string{"REDIS_URL and REDIS_SENTINELS are both set"}},
		"neither master name nor password": {map[string]string{"REDIS_MASTER_NAME": "", "REDIS_PASSWORD": ""}, []string{"REDIS_MASTER_NAME", "REDIS_PASSWORD"}},
	} {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		for k, v := range c.set {
			bad[k] = v
		}
		_, err := app.Service.Config(func(k string) string { return bad[k] })
		require.Error(t, err, name)
		for _, w := range c.want {
			assert.ErrorContains(t, err, w, name)
		}
		assert.NotContains(t, err.Error(), "secret", "%s: a password never reaches the log", name)
	}

	// A master name alone is a deployment that meant Sentinel and lost its list.
	env = servicetest.Needed(app.Service)
	env["REDIS_URL"] = "redis://redis:6379/0"
	env["REDIS_MASTER_NAME"] = "expiration"
	_, err = app.Service.Config(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, "REDIS_MASTER_NAME is set without REDIS_SENTINELS")
}
