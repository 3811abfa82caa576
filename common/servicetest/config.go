package servicetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/service"
)

// RequiresSettings checks that spec, given an empty environment, refuses to
// start naming every variable of required — all in one error — and none of
// optional.
func RequiresSettings[C service.Configured, A service.Wired](t testing.TB, spec service.Spec[C, A], required []string, optional ...string) {
	t.Helper()
	_, err := spec.Config(func(string) string { return "" })
	require.Error(t, err)
	for _, name := range required {
		assert.Contains(t, err.Error(), name)
	}
	for _, name := range optional {
		assert.NotContains(t, err.Error(), name, "%s is optional", name)
	}
}

// Needed returns placeholder values for the shared variables spec's Needs
// makes required, for configuration tests to add the service's own to. No
// server is behind them.
func Needed[C service.Configured, A service.Wired](spec service.Spec[C, A]) map[string]string {
	env := map[string]string{}
	if spec.Needs.Mongo {
		env["MONGO_URI"] = "mongodb://x/" + spec.Needs.Name
	}
	if spec.Needs.JWT {
		env["JWT_KEY"] = JWTKey
	}
	if spec.Needs.NATS {
		env["NATS_URL"] = "nats://x:4222"
		env["NATS_CLIENT_ID"] = spec.Needs.Name + "-1"
	}
	return env
}
