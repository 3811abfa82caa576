package service_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/config"
	"ticketing.dev/common/events"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/service"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
)

// guarded is a JWT service with one route that needs a session, and nothing
// else: what it refuses comes from common alone.
type guarded struct{ service.App }

type guardedConfig struct{ config.Common }

var guardedSpec = service.Spec[guardedConfig, *guarded]{
	Needs: config.Service{Name: "guarded", JWT: true, NATS: true},
	LoadConfig: func(_ *config.Env, common config.Common) (guardedConfig, error) {
		return guardedConfig{common}, nil
	},
	Wire: func(context.Context, *service.Deps, guardedConfig) (*guarded, error) {
		return &guarded{App: service.App{Routes: func(r chi.Router) {
			r.With(middleware.RequireAuth).Get("/me", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		}}}, nil
	},
}

func publish(t *testing.T, p events.Payload) {
	t.Helper()
	env, err := events.New(p)
	require.NoError(t, err)
	require.NoError(t, testenv.SharedBroker(t).NewBus(t).Publish(testenv.Context(t), env))
}

func token(t *testing.T, userID string) (string, session.Token) {
	t.Helper()
	m, err := session.NewManager(servicetest.JWTKey, false)
	require.NoError(t, err)
	raw, err := m.Token(session.User{ID: userID, Email: userID + "@example.com"})
	require.NoError(t, err)
	parsed, err := m.Parse(raw)
	require.NoError(t, err)
	return raw, parsed
}

func status(t *testing.T, api *apitest.Client, raw string) int {
	t.Helper()
	return api.Do("GET", "/me", nil, apitest.As(raw)).Status
}

func TestARevokedSessionIsRefusedByARunningAndByALaterProcess(t *testing.T) {
	running := servicetest.Start(t, guardedSpec)
	alice, bob := testenv.RandomName("alice"), testenv.RandomName("bob")
	revokedRaw, revoked := token(t, alice)
	keptRaw, _ := token(t, alice)
	bobRaw, _ := token(t, bob)
	require.Equal(t, http.StatusOK, status(t, running.API, revokedRaw))

	publish(t, events.SessionRevoked{ID: revoked.ID, UserID: alice, ExpiresAt: revoked.ExpiresAt})
	require.Eventually(t, func() bool { return status(t, running.API, revokedRaw) == http.StatusUnauthorized },
		2*time.Second, 20*time.Millisecond, "a running process refuses a revoked token within 2 s")
	require.Equal(t, http.StatusOK, status(t, running.API, keptRaw), "signout revokes only its own token")

	// A process that starts after the revocation replays it before it is
	// ready: its first request already refuses the token.
	later := servicetest.Start(t, guardedSpec)
	require.Equal(t, http.StatusUnauthorized, status(t, later.API, revokedRaw))
	require.Equal(t, http.StatusOK, status(t, later.API, keptRaw))

	publish(t, events.SessionRevoked{UserID: alice, RevokedBefore: time.Now(), ExpiresAt: time.Now().Add(session.DefaultTTL)})
	for _, svc := range []*servicetest.Service[*guarded]{running, later} {
		require.Eventually(t, func() bool { return status(t, svc.API, keptRaw) == http.StatusUnauthorized },
			2*time.Second, 20*time.Millisecond, "signout-all revokes every token of the user")
		require.Equal(t, http.StatusOK, status(t, svc.API, bobRaw), "another user's session keeps working")
	}
	third := servicetest.Start(t, guardedSpec)
	require.Equal(t, http.StatusUnauthorized, status(t, third.API, keptRaw))
	require.Equal(t, http.StatusOK, status(t, third.API, bobRaw))
}

// A process that cannot replay the revocations (its broker is away) never
// reports ready, so it is sent no request that a revoked token could make.
func TestReadinessWaitsForTheRevocationReplay(t *testing.T) {
	port, err := testenv.FreePort()
	require.NoError(t, err)
	cfg, err := guardedSpec.Config(func(name string) string {
		return map[string]string{
			"JWT_KEY": servicetest.JWTKey, "NATS_URL": "nats://127.0.0.1:" + strconv.Itoa(port), "EVENT_BUS": testenv.BusTransport(), "NATS_CLIENT_ID": testenv.RandomName("guarded"),
		}[name]
	})
	require.NoError(t, err)
	deps, err := service.Open(context.Background(), guardedSpec.Needs, cfg.Settings(), testenv.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = deps.Close(context.Background()) })
	started, err := guardedSpec.Start(context.Background(), deps, cfg)
	require.NoError(t, err)
	testenv.Background(t, started.Background...)
	check := deps.Checks["revocations"]
	require.NotNil(t, check)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		err := check(context.Background())
		require.ErrorContains(t, err, service.NotReadyRevocations)
	}
}
