package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/servicetest"
	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/app"
	"ticketing.dev/payments/internal/apptest"
)

func TestMissingConfigurationIsNamed(t *testing.T) {
	// Optional: optional: empty means Stripe itself.
	servicetest.RequiresSettings(t, app.Service, []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLIENT_ID", "STRIPE_KEY", "STRIPE_WEBHOOK_SECRET"},
		"STRIPE_API_BASE", "PAYMENT_CURRENCY")
}

func TestConfiguration(t *testing.T) {
	env := servicetest.Needed(app.Service)
	env["STRIPE_KEY"] = apptest.StripeKey
	env["STRIPE_WEBHOOK_SECRET"] = apptest.WebhookSecret
	getenv := func(k string) string { return env[k] }
	cfg, err := app.Service.Config(getenv)
	require.NoError(t, err)
	assert.Equal(t, "3000", cfg.Port)
	assert.Equal(t, "usd", cfg.Currency)
	assert.Equal(t, apptest.WebhookSecret, cfg.StripeWebhookSecret)
	assert.Equal(t, apptest.StripeKey, cfg.StripeKey)
	assert.Empty(t, cfg.StripeAPIBase)
	assert.Equal(t, app.DefaultReconcileInterval, cfg.ReconcileInterval)

	env["STRIPE_API_BASE"] = "http://stripe-mock:12111"
	env["PAYMENTS_RECONCILE_INTERVAL"] = "5s"
	cfg, err = app.Service.Config(getenv)
	require.NoError(t, err)
	assert.Equal(t, "http://stripe-mock:12111", cfg.StripeAPIBase)
	assert.Equal(t, 5*time.Second, cfg.ReconcileInterval)

	env["PAYMENT_CURRENCY"] = "EUR"
	cfg, err = app.Service.Config(getenv)
	require.NoError(t, err)
	assert.Equal(t, "eur", cfg.Currency, "Stripe's lower-case code")
	env["PAYMENT_CURRENCY"] = "euro"
	_, err = app.Service.Config(getenv)
	assert.ErrorContains(t, err, "PAYMENT_CURRENCY")
	delete(env, "PAYMENT_CURRENCY")

	env["STRIPE_API_BASE"] = "stripe-mock:12111"
	_, err = app.Service.Config(getenv)
	assert.ErrorContains(t, err, "STRIPE_API_BASE")
}

// Service.Run is payments as main runs it: it serves the API and reports readiness
// of its database, and the broker as degraded while it is away.
func TestRunServesUntilStopped(t *testing.T) {
	port, err := testenv.FreePort()
	require.NoError(t, err)
	nats := testenv.NewBroker(t)
	env := map[string]string{
		"PORT": strconv.Itoa(port), "MONGO_URI": testenv.DatabaseURI(t), "JWT_KEY": servicetest.JWTKey,
		"NATS_URL": nats.URL, "EVENT_BUS": nats.Transport, "NATS_CLIENT_ID": testenv.RandomName("payments"), "STRIPE_KEY": apptest.StripeKey,
		"STRIPE_WEBHOOK_SECRET": apptest.WebhookSecret,
		"STRIPE_API_BASE":       testenv.StripeMockURL(t), "COOKIE_SECURE": "false",
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Service.Run(ctx, func(k string) string { return env[k] }) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-done)
	})

	api := apitest.New(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	require.Eventually(t, func() bool {
		res, err := api.Try("GET", "/readyz", nil)
		return err == nil && res.Status == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, http.StatusOK, api.Do("GET", "/healthz", nil).Status)
	res := api.Do("POST", "/api/payments", map[string]string{"orderId": "x", "token": "tok_visa"})
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	res = api.Do("POST", "/api/payments", map[string]string{"orderId": "64b000000000000000000001", "token": "tok_visa"},
		apitest.As(apitest.Session(t, servicetest.JWTKey, "buyer")))
	assert.Equal(t, http.StatusNotFound, res.Status, res.Raw)

	// Without the broker payments stays ready, degraded: its events wait in
	// its outbox (docs/kubernetes.md, "What readiness means").
	nats.Stop(t)
	degraded := `{"status":"degraded","degraded":[{"message":"nats is not reachable"}]}`
	require.Eventually(t, func() bool {
		res, err := api.Try("GET", "/readyz", nil)
		return err == nil && res.Status == http.StatusOK && strings.TrimSpace(res.Raw) == degraded
	}, 30*time.Second, 50*time.Millisecond)
	nats.Start(t)
	require.Eventually(t, func() bool {
		res, err := api.Try("GET", "/readyz", nil)
		return err == nil && strings.TrimSpace(res.Raw) == `{"status":"ok"}`
	}, 30*time.Second, 50*time.Millisecond, "no longer degraded once the broker is back")
}
