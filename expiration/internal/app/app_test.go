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
