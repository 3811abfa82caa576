package app_test

import (
	"testing"
	"time"

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
	assert.Equal(t, time.Second, cfg.PublicReadSnapshot)

	for value, ok := range map[string]bool{"0s": true, "500ms": true, "2s": false, "-1s": false} {
		env["PUBLIC_READ_SNAPSHOT"] = value
		_, err := app.Service.Config(func(k string) string { return env[k] })
		if ok {
			assert.NoError(t, err, value)
		} else {
			assert.ErrorContains(t, err, "PUBLIC_READ_SNAPSHOT", value)
		}
	}
}
