package app_test

import (
	"maps"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/api"
	"ticketing.dev/auth/internal/app"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/servicetest"
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
	assert.False(t, cfg.TrustProxy)
	assert.Equal(t, api.DefaultLimits, cfg.Limits, "signin limits are the defaults unless the benchmark knob is set")
	assert.True(t, cfg.LimitMemory, "without GOMEMLIMIT auth sets its own soft limit")
	assert.Nil(t, cfg.Hasher, "the production hasher")
}

func TestAGivenMemoryLimitIsKept(t *testing.T) {
	env := servicetest.Needed(app.Service)
	env["GOMEMLIMIT"] = "100MiB"
	cfg, err := app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.False(t, cfg.LimitMemory, "Kubernetes' GOMEMLIMIT is left as it is")
}

func TestTheBenchmarkKnobRaisesOnlyThePerAddressSigninLimit(t *testing.T) {
	env := servicetest.Needed(app.Service)
	maps.Copy(env, map[string]string{"TRUST_PROXY": "true", "SIGNIN_ADDRESS_BURST": "1000000", "SIGNIN_ADDRESS_EVERY": "1ms"})
	cfg, err := app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, api.Limits{
		PerEmailBurst: api.DefaultLimits.PerEmailBurst, PerEmailEvery: api.DefaultLimits.PerEmailEvery,
		PerIPBurst: 1000000, PerIPEvery: time.Millisecond, TrustProxy: true,
		SignupPerIPBurst: api.DefaultLimits.SignupPerIPBurst, SignupPerIPEvery: api.DefaultLimits.SignupPerIPEvery,
	}, cfg.Limits)
}

func TestTheSignupBenchmarkKnobRaisesOnlyThePerAddressSignupLimit(t *testing.T) {
	env := servicetest.Needed(app.Service)
	maps.Copy(env, map[string]string{"SIGNUP_ADDRESS_BURST": "1000000", "SIGNUP_ADDRESS_EVERY": "1ms"})
	cfg, err := app.Service.Config(func(k string) string { return env[k] })
	require.NoError(t, err)
	want := api.DefaultLimits
	want.SignupPerIPBurst, want.SignupPerIPEvery = 1000000, time.Millisecond
	assert.Equal(t, want, cfg.Limits)
}

func TestABadSigninLimitIsNamed(t *testing.T) {
	env := servicetest.Needed(app.Service)
	maps.Copy(env, map[string]string{"SIGNIN_ADDRESS_BURST": "0", "SIGNIN_ADDRESS_EVERY": "soon"})
	_, err := app.Service.Config(func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SIGNIN_ADDRESS_BURST=0 must be at least 1")
	assert.Contains(t, err.Error(), `SIGNIN_ADDRESS_EVERY="soon" is not a positive duration`)

	env = servicetest.Needed(app.Service)
	maps.Copy(env, map[string]string{"SIGNUP_ADDRESS_BURST": "0", "SIGNUP_ADDRESS_EVERY": "never"})
	_, err = app.Service.Config(func(k string) string { return env[k] })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SIGNUP_ADDRESS_BURST=0 must be at least 1")
	assert.Contains(t, err.Error(), `SIGNUP_ADDRESS_EVERY="never" is not a positive duration`)
}

func TestTheMemoryLimitLeavesRoomForEveryRunningHash(t *testing.T) {
	h := user.NewHasher()
	assert.Equal(t, int64(runtime.GOMAXPROCS(0))*19<<20, h.HashMemory(), "one 19 MiB hash per CPU the process may use")
	assert.Greater(t, app.MemoryLimit(h), 2*h.HashMemory())
}
