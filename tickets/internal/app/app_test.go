package app_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/tickets/internal/app"
)

func TestMissingConfigurationIsNamed(t *testing.T) {
	_, err := app.Service.Config(func(string) string { return "" })
	require.Error(t, err)
	for _, name := range []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLIENT_ID"} {
		assert.Contains(t, err.Error(), name)
	}
}

func TestConfigurationDefaults(t *testing.T) {
	env := map[string]string{"MONGO_URI": "mongodb://x/tickets", "JWT_KEY": "k", "NATS_URL": "nats://x:4222", "NATS_CLIENT_ID": "tickets-1"}
	cfg, err := app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "3000", cfg.Port)
	assert.Equal(t, "ticketing", cfg.NATSClusterID)
	assert.True(t, cfg.CookieSecure)
}
