package systemtest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/systemtest/harness"
)

// refusal is one service's authenticated request, and whether it accepted
// the session (anything but 401: the request itself may be a 404).
type refusal struct {
	svc  *harness.Service
	try  func(token string) apitest.Response
	name string
}

func (r refusal) accepts(t *testing.T, token string) bool {
	t.Helper()
	return r.try(token).Status != http.StatusUnauthorized
}

func sessionChecks(tickets, orders, payments *harness.Service) []refusal {
	return []refusal{
		{tickets, func(tok string) apitest.Response {
			return tickets.API.Do("POST", "/api/tickets", map[string]any{"title": "Concert", "price": 10}, apitest.As(tok))
		}, "tickets"},
		{orders, func(tok string) apitest.Response {
			return orders.API.Do("GET", "/api/orders", nil, apitest.As(tok))
		}, "orders"},
		{payments, func(tok string) apitest.Response {
			return payments.API.Do("POST", "/api/payments", map[string]any{"orderId": "6650a1b2c3d4e5f601234567"}, apitest.As(tok))
		}, "payments"},
	}
}

func signup(t *testing.T, auth *harness.Service, email string) string {
	t.Helper()
	res := auth.API.Do("POST", "/api/users/signup", map[string]string{"email": email, "password": "password1"})
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	return res.Cookie(t, session.CookieName).Value
}

func signin(t *testing.T, auth *harness.Service, email string) string {
	t.Helper()
	res := auth.API.Do("POST", "/api/users/signin", map[string]string{"email": email, "password": "password1"})
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	return res.Cookie(t, session.CookieName).Value
}

// waitRefused polls every check until it refuses token, for at most 2 s
// (DESIGN.md §3), and returns how long the slowest took.
func waitRefused(t *testing.T, checks []refusal, token string, since time.Time) time.Duration {
	t.Helper()
	var slowest time.Duration
	for _, c := range checks {
		require.Eventually(t, func() bool { return !c.accepts(t, token) }, 2*time.Second-time.Since(since), 10*time.Millisecond,
			"%s still accepts the token 2 s after it was revoked", c.name)
		slowest = max(slowest, time.Since(since))
	}
	return slowest
}

func TestSignedOutSessionsAreRefusedByEveryServiceWithinTwoSeconds(t *testing.T) {
	sys := harness.New(t)
	auth := sys.Start("auth", nil)
	tickets := sys.Start("tickets", nil)
	orders := sys.Start("orders", nil)
	payments := sys.Start("payments", harness.Env{
		"STRIPE_KEY":            "sk_test_" + strings.Repeat("x", 24),
		"STRIPE_API_BASE":       testenv.StripeMockURL(t),
		"STRIPE_WEBHOOK_SECRET": "whsec_" + strings.Repeat("x", 24),
	})
	checks := sessionChecks(tickets, orders, payments)

	copied := signup(t, auth, "alice@example.com")
	kept := signin(t, auth, "alice@example.com")
	bob := signup(t, auth, "bob@example.com")
	for _, c := range checks {
		require.True(t, c.accepts(t, copied), "%s refuses a fresh session", c.name)
	}

	signedOut := time.Now()
	res := auth.API.Do("POST", "/api/users/signout", nil, apitest.As(copied))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	took := waitRefused(t, checks, copied, signedOut)
	t.Logf("signout to refusal by tickets, orders and payments: %v", took)
	for _, c := range checks {
		require.True(t, c.accepts(t, kept), "%s refuses the user's other session after a signout", c.name)
	}

	// An orders process that starts after the signout refuses the token from
	// its first request: it is not ready before it has replayed revocations.
	later := sys.Start("orders", nil)
	laterChecks := sessionChecks(tickets, later, payments)
	require.False(t, laterChecks[1].accepts(t, copied), "an orders process started after the signout accepts the revoked token")
	require.True(t, laterChecks[1].accepts(t, kept))

	signedOutAll := time.Now()
	res = auth.API.Do("POST", "/api/users/signout-all", nil, apitest.As(kept))
	require.Equal(t, http.StatusOK, res.Status, res.Raw)
	took = waitRefused(t, append(checks, laterChecks[1]), kept, signedOutAll)
	t.Logf("signout-all to refusal by tickets, orders (both) and payments: %v", took)
	for _, c := range append(checks, laterChecks[1]) {
		require.True(t, c.accepts(t, bob), "%s refuses another user's session after signout-all", c.name)
	}
}

func TestASessionPastSessionTTLIsRefused(t *testing.T) {
	sys := harness.New(t)
	auth := sys.Start("auth", harness.Env{"SESSION_TTL": "2s"})
	orders := sys.Start("orders", harness.Env{"SESSION_TTL": "2s"})
	token := signup(t, auth, "carol@example.com")
	check := sessionChecks(nil, orders, nil)[1]
	require.True(t, check.accepts(t, token))
	require.Eventually(t, func() bool { return !check.accepts(t, token) }, 10*time.Second, 50*time.Millisecond,
		"a session past SESSION_TTL is still accepted")
}
