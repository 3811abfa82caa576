//go:build external

package e2e

// External mode: the flows of flows_test.go against a deployment that is
// already running (the kind workflow's cluster), configured by the
// environment:
//
//	E2E_BASE_URL            the front door, e.g. https://ticketing.dev (required)
//	E2E_CA_FILE             a PEM certificate to trust besides the system's, e.g.
//	                        the cluster's self-signed one (optional)
//	E2E_STRIPE_STANDIN_URL  the deployment's Stripe stand-in
//	                        (infra/k8s/components/stripe-standin), port-forwarded
//	                        (optional: without it the 3-D Secure flow fails, and
//	                        the full purchase does not look at Stripe's side)
//
// What the runner mode reads inside the runner, it cannot: it has no request
// log of Stripe's (the stand-in's controls tell the order's intents), no
// spans (the deployment sends them to its own collector) and no processes.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// system is the deployment under test (external mode).
var system struct {
	deployment
	// stripe is the deployment's Stripe stand-in; nil when
	// E2E_STRIPE_STANDIN_URL is not set.
	stripe *standInControl
}

// reachWithin is how long TestMain waits for the front door to answer.
const reachWithin = 60 * time.Second

func TestMain(m *testing.M) {
	d, stripe, err := connect(os.Getenv)
	if err == nil {
		err = reachable(d)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e (external):", err)
		os.Exit(2)
	}
	system.deployment, system.stripe = d, stripe
	os.Exit(m.Run())
}

// connect reads the deployment from the environment, naming every missing
// or invalid variable.
func connect(getenv func(string) string) (deployment, *standInControl, error) {
	var problems []error
	var d deployment
	d.baseURL = strings.TrimRight(getenv("E2E_BASE_URL"), "/")
	if err := httpURL("E2E_BASE_URL", d.baseURL); err != nil {
		problems = append(problems, err)
	}
	if path := getenv("E2E_CA_FILE"); path != "" {
		tr, err := trusting(path)
		if err != nil {
			problems = append(problems, fmt.Errorf("E2E_CA_FILE: %w", err))
		}
		d.transport = tr
	}
	var stripe *standInControl
	if s := strings.TrimRight(getenv("E2E_STRIPE_STANDIN_URL"), "/"); s != "" {
		if err := httpURL("E2E_STRIPE_STANDIN_URL", s); err != nil {
			problems = append(problems, err)
		}
		stripe = &standInControl{url: s, client: &http.Client{Timeout: 10 * time.Second}}
	}
	return d, stripe, errors.Join(problems...)
}

func httpURL(name, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s is not set: external mode tests a running deployment, e.g. %s=https://ticketing.dev (infra/e2e/README.md)", name, name)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an http(s) URL", name, raw)
	}
	return nil
}

// trusting is a transport that trusts the system's certificate authorities
// and the PEM certificates in path (a self-signed server certificate is its
// own authority).
func trusting(path string) (http.RoundTripper, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// reachable waits until the front door answers GET /api/users/currentuser
// with 200, so a deployment that is not there fails once, clearly, and not
// in every test.
func reachable(d deployment) error {
	client := &http.Client{Transport: d.transport, Timeout: 10 * time.Second}
	deadline := time.Now().Add(reachWithin)
	for {
		res, err := client.Get(d.baseURL + "/api/users/currentuser")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/api/users/currentuser did not answer 200 within %s: %w", d.baseURL, reachWithin, err)
		}
		time.Sleep(time.Second)
	}
}

// standInControl plays the cardholder against the deployment's Stripe
// stand-in, through its controls (infra/stripestandin, /_standin/…).
type standInControl struct {
	url    string
	client *http.Client
}

var errNoStandIn = errors.New("E2E_STRIPE_STANDIN_URL is not set: this flow plays the cardholder through the Stripe stand-in's controls (port-forward its Service, README.md)")

// Authenticate passes (or fails) the 3-D Secure challenge of the intent, as
// the cardholder would on the bank's page.
func (c *standInControl) Authenticate(intentID string, pass bool) error {
	if c == nil {
		return errNoStandIn
	}
	form := url.Values{"pass": {fmt.Sprint(pass)}}
	res, err := c.client.PostForm(c.url+"/_standin/payment_intents/"+url.PathEscape(intentID)+"/authenticate", form)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("the stand-in refused to authenticate %s: status %d", intentID, res.StatusCode)
	}
	return nil
}

// IntentsFor returns the ids of the stand-in's PaymentIntents for the order.
func (c *standInControl) IntentsFor(orderID string) ([]string, error) {
	if c == nil {
		return nil, errNoStandIn
	}
	res, err := c.client.Get(c.url + "/_standin/payment_intents?order=" + url.QueryEscape(orderID))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		IDs []string `json:"ids"`
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the stand-in's intents for %s: status %d", orderID, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.IDs, nil
}

// untilLapse is the longest the hold can last: the deployment's window is
// its own (test-suites sets 30 s), the order says when it ends.
func untilLapse(o order) time.Duration { return time.Until(o.ExpiresAt) }

// checkOnePaymentIntent: the stand-in holds exactly one PaymentIntent for
// the order, and the charge is that intent. (Its request log, which the
// runner mode counts, is not on the wire.)
func checkOnePaymentIntent(t *testing.T, o order, charge map[string]any) {
	t.Helper()
	if system.stripe == nil {
		t.Log("Stripe's side of the purchase not checked: E2E_STRIPE_STANDIN_URL is not set")
		return
	}
	ids, err := system.stripe.IntentsFor(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Fatalf("want exactly one PaymentIntent for the order at the stand-in, it holds %d: %v", len(ids), ids)
	}
	if charge["stripeId"] != ids[0] {
		t.Fatalf("paid by %v, want the order's PaymentIntent %s", charge["stripeId"], ids[0])
	}
}

// checkLapseTrace has nothing to read here: the deployment's services send
// their spans to its own collector, not to the test (runner mode checks it).
func checkLapseTrace(t *testing.T, traceID, _ string, _ order) {
	t.Helper()
	t.Logf("the lapse's trace %s is not checked: the deployment's spans go to its own collector", traceID)
}

// The environment is read as documented, and every problem is named at once.
func TestExternalModeReadsItsEnvironment(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	ca := t.TempDir() + "/ca.crt"
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := connect(env(map[string]string{"E2E_CA_FILE": ca, "E2E_STRIPE_STANDIN_URL": "127.0.0.1:12111"}))
	for _, want := range []string{"E2E_BASE_URL is not set", "holds no PEM certificate", `E2E_STRIPE_STANDIN_URL "127.0.0.1:12111" is not an http(s) URL`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	d, stripe, err := connect(env(map[string]string{"E2E_BASE_URL": "https://ticketing.dev/"}))
	if err != nil || d.baseURL != "https://ticketing.dev" || d.transport != nil || stripe != nil {
		t.Fatalf("got %+v, %v, %v; want https://ticketing.dev, Go's transport, no stand-in", d, stripe, err)
	}
	if err := stripe.Authenticate("pi_x", true); !errors.Is(err, errNoStandIn) {
		t.Fatalf("without a stand-in: %v, want errNoStandIn", err)
	}
}

// E2E_CA_FILE is what makes a self-signed front door trusted: with it the
// people's transport reaches it, without it Go refuses the certificate.
func TestExternalModeTrustsTheCertificateOfE2ECAFile(t *testing.T) {
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer front.Close()
	ca := t.TempDir() + "/front-door.crt"
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	if err := os.WriteFile(ca, crt, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"E2E_BASE_URL": front.URL, "E2E_CA_FILE": ca}
	d, _, err := connect(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := reachable(d); err != nil {
		t.Fatalf("with E2E_CA_FILE: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(front.URL); !errors.As(err, &unknown) {
		t.Fatalf("without it: %v, want an unknown certificate authority", err)
	}
}
