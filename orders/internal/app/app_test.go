package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/servicetest"
	"ticketing.dev/orders/internal/app"
)

func TestMissingConfigurationIsNamed(t *testing.T) {
	servicetest.RequiresSettings(t, app.Service, []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLIENT_ID"})
}

func TestExpirationWindow(t *testing.T) {
	env := servicetest.Needed(app.Service)
	cfg, err := app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, 15*time.Minute, cfg.ExpirationWindow, "the default")
	assert.Equal(t, "3000", cfg.Port)

	env["ORDER_EXPIRATION_WINDOW"] = "90s"
	cfg, err = app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, cfg.ExpirationWindow)

	assert.Equal(t, 5*time.Second, cfg.ExpiryCheckInterval, "the default")
	env["ORDER_EXPIRY_CHECK_INTERVAL"] = "10s"
	cfg, err = app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, cfg.ExpiryCheckInterval)
	env["ORDER_EXPIRY_CHECK_INTERVAL"] = "0s"
	_, err = app.Service.Config(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, "ORDER_EXPIRY_CHECK_INTERVAL")
	delete(env, "ORDER_EXPIRY_CHECK_INTERVAL")

	assert.Equal(t, 30*time.Second, cfg.HoldSweepInterval, "the default")
	env["ORDER_HOLD_SWEEP_INTERVAL"] = "1m"
	cfg, err = app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, time.Minute, cfg.HoldSweepInterval)
	env["ORDER_HOLD_SWEEP_INTERVAL"] = "never"
	_, err = app.Service.Config(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, "ORDER_HOLD_SWEEP_INTERVAL")
	delete(env, "ORDER_HOLD_SWEEP_INTERVAL")

	for _, bad := range []string{"soon", "-1m", "0s"} {
		env["ORDER_EXPIRATION_WINDOW"] = bad
		_, err = app.Service.Config(func(k string) string { return env[k] })
		assert.ErrorContains(t, err, "ORDER_EXPIRATION_WINDOW", bad)
	}
}
