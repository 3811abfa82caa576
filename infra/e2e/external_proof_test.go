//go:build !external

package e2e

import (
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// externalProof are the flows the external mode is proved with here: the
// cheap ones that use every part of its configuration (the front door, its
// certificate, the stand-in's controls).
var externalProof = []string{"TestExternalModeReadsItsEnvironment", "TestExternalModeTrustsTheCertificateOfE2ECAFile", "TestAFullPurchase", "TestAThreeDSecurePurchaseCompletesByTheWebhook"}

// The external mode (-tags external) is what the kind workflow runs against
// https://ticketing.dev; no cluster runs here, so it runs against this
// runner, handed over the way the workflow hands over the cluster: a TLS
// front door whose self-signed certificate is E2E_CA_FILE, and the Stripe
// stand-in's address as E2E_STRIPE_STANDIN_URL. So it cannot rot unnoticed.
func TestTheExternalModeAgainstTheRunner(t *testing.T) {
	target, err := url.Parse(system.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer front.Close()
	ca := filepath.Join(t.TempDir(), "front-door.crt")
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	if err := os.WriteFile(ca, crt, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("go", "test", "-tags", "external", "-count=1", "-v",
		"-run", "^("+strings.Join(externalProof, "|")+")$", ".")
	cmd.Dir = filepath.Join(system.root, "infra", "e2e")
	cmd.Env = append(os.Environ(), "E2E_BASE_URL="+front.URL, "E2E_CA_FILE="+ca,
		"E2E_STRIPE_STANDIN_URL="+system.stripe.URL())
	out, err := cmd.CombinedOutput()
	t.Log(string(out))
	if err != nil {
		t.Fatalf("the external mode failed against the runner: %v", err)
	}
	for _, name := range externalProof {
		if !strings.Contains(string(out), "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in external mode", name)
		}
	}
}
