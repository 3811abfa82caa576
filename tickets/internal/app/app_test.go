package app_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/servicetest"
	"ticketing.dev/tickets/internal/app"
)

func TestMissingConfigurationIsNamed(t *testing.T) {
	servicetest.RequiresSettings(t, app.Service, []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLIENT_ID"})
}

func TestConfigurationDefaults(t *testing.T) {
	env := servicetest.Needed(app.Service)
	cfg, err := app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "3000", cfg.Port)
	assert.Equal(t, "ticketing", cfg.NATSClusterID)
	assert.True(t, cfg.CookieSecure)
}
