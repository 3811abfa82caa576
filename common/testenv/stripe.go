package testenv

import (
	"fmt"
	"strconv"
	"testing"
)

var sharedStripe shared[string]

// StripeMockURL returns the base URL of the package's shared stripe-mock
// (Stripe's official, stateless API mock), for STRIPE_API_BASE.
func StripeMockURL(t testing.TB) string {
	t.Helper()
	url, err := StartStripeMock()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return url
}

// StartStripeMock is StripeMockURL outside a test, for TestMain.
func StartStripeMock() (string, error) {
	return sharedStripe.start(func() (string, func(), error) {
		if UseContainers() {
			return runContainer("stripe/stripe-mock:v0.203.0", "12111/tcp", "http")
		}
		httpPort, err := FreePort()
		if err != nil {
			return "", nil, err
		}
		httpsPort, err := FreePort()
		if err != nil {
			return "", nil, err
		}
		p, err := startProcess("stripe-mock", httpPort,
			"-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort),
			"-https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort))
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("http://127.0.0.1:%d", httpPort), p.stop, nil
	})
}
