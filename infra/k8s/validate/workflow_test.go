package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const deployWorkflow = ".github/workflows/kind.yml"

func readDeployWorkflow(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(theRepo(t).root, deployWorkflow))
	require.NoError(t, err)
	return string(raw)
}

func TestTheDeployWorkflowNamesOnlyWhatExists(t *testing.T) {
	r := theRepo(t)
	wf := readDeployWorkflow(t)
	assert.Empty(t, CheckDeployWorkflow(r.root, deployWorkflow, []byte(wf), r.skaffold))
	assert.Empty(t, CheckProdDeployCommands(deployWorkflow, wf))

	broken := func(old, new string) []string {
		t.Helper()
		require.Contains(t, wf, old)
		return CheckDeployWorkflow(r.root, deployWorkflow, []byte(strings.Replace(wf, old, new, 1)), r.skaffold)
	}
	assertProblem(t, broken("infra/k8s/dev-secrets.sh --tls", "infra/k8s/secrets.sh --tls"), "infra/k8s/secrets.sh does not exist")
	assertProblem(t, broken("overlay: [dev, prod]", "overlay: [dev, production]"), "infra/k8s/overlays/production/kustomization.yaml does not exist")
	assertProblem(t, broken("../../components/test-suites", "../../components/tests"), "component tests does not exist")
	assertProblem(t, broken("skaffold run -p prod --label", "skaffold run -p production --label"), `no profile "production"`)
	assertProblem(t, broken(`s/>Tickets for sale</`, `s/>Tickets on sale</`), "client/app/page.tsx no longer contains \">Tickets on sale<\"")
	assertProblem(t, broken("--config infra/k8s/kind/cluster.yaml", "--config infra/k8s/kind/missing.yaml"), "missing.yaml")
}

func TestTheKindClusterFitsTheProdOverlay(t *testing.T) {
	root := theRepo(t).root
	assert.Empty(t, CheckKindCluster(root, "infra/k8s/kind/cluster.yaml"))

	dir := t.TempDir()
	write := func(text string) string {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(text), 0o600))
		return "c.yaml"
	}
	head := "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n"
	ingress := "  - role: control-plane\n    labels: {ingress-ready: \"true\"}\n    extraPortMappings: [{containerPort: 80, hostPort: 80}, {containerPort: 443, hostPort: 443}]\n"
	assertProblem(t, CheckKindCluster(dir, write(head+ingress+"  - role: worker\n")), "1 workers")
	assertProblem(t, CheckKindCluster(dir, write(head+"  - role: control-plane\n"+strings.Repeat("  - role: worker\n", 3))), "ports 80 and 443")
	assertProblem(t, CheckKindCluster(dir, write(head+ingress+"  - role: worker\n    image: kindest/node\n")), "unknown field")
}

// The script the workflow (and a first try on a throwaway cluster) uses
// creates every secret, with every key, that any rendering reads.
func TestTheSecretsScriptCreatesEverySecretTheManifestsRead(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(theRepo(t).root, "infra", "k8s", "dev-secrets.sh"))
	require.NoError(t, err)
	script := SecretsInDoc(string(raw))
	for _, c := range renders(t) {
		assert.Empty(t, CheckSecretsCreated(c.M, script, "dev-secrets.sh"), c.Name)
	}
	delete(script, "expiration-redis")
	assertProblem(t, CheckSecretsCreated(renderDev(t), script, "dev-secrets.sh"), "expiration-redis", "dev-secrets.sh never creates")
}

// deployedAs finds, among the renderings the tests prove, the overlay with
// the components a job opts in to.
func deployedAs(t *testing.T) Deployed {
	cases := renders(t)
	return func(overlay string, components []string) (*Manifests, error) {
		for _, c := range cases {
			if c.Overlay == overlay && slices.Equal(c.Components, components) {
				return c.M, nil
			}
		}
		return nil, fmt.Errorf("no rendering of %s with %v", overlay, components)
	}
}

// The e2e step's Go package, build tag, environment, certificate and
// port-forward all resolve, for both overlays; breaking any one is caught.
func TestTheDeployWorkflowsTestTargetsResolve(t *testing.T) {
	r := theRepo(t)
	wf := readDeployWorkflow(t)
	deployed := deployedAs(t)
	assert.Empty(t, CheckWorkflowTargets(r.root, deployWorkflow, []byte(wf), deployed))

	broken := func(old, new string) []string {
		t.Helper()
		require.Contains(t, wf, old)
		return CheckWorkflowTargets(r.root, deployWorkflow, []byte(strings.Replace(wf, old, new, 1)), deployed)
	}
	assertProblem(t, broken("go test -tags external", "go test -tags extern"), "overlay dev", `no Go file in infra/e2e is built with the tag "extern"`)
	assertProblem(t, broken("go test -tags external", "go test -tags extern"), "overlay prod", `tag "extern"`)
	assertProblem(t, broken("cd infra/e2e\n", "cd infra/e2e2\n"), "go test in infra/e2e2")
	assertProblem(t, broken("E2E_BASE_URL: https", "E2E_BASEURL: https"), "it sets E2E_BASEURL, which no Go file in infra/e2e reads")
	assertProblem(t, broken(`> "$E2E_CA_FILE"`, "> /tmp/ca.crt"), "E2E_CA_FILE=/tmp/ticketing-dev.crt, which nothing in the job writes")
	assertProblem(t, broken("get secret ticketing-dev-tls", "get secret ticketing-tls"), "Secret ticketing-tls, but the Ingress serving ticketing.dev uses [ticketing-dev-tls]")
	assertProblem(t, broken("svc/stripe-standin 12111:12111", "svc/stripe-stand-in 12111:12111"), "the deployment has no Service stripe-stand-in")
	assertProblem(t, broken("svc/stripe-standin 12111:12111", "svc/stripe-standin 12111:8080"), "the Service has no port 8080")
	assertProblem(t, broken("port-forward -n ticketing", "port-forward -n default"), `namespace "default", but the deployment is in "ticketing"`)
	assertProblem(t, broken("E2E_STRIPE_STANDIN_URL: http://127.0.0.1:12111", "E2E_STRIPE_STANDIN_URL: http://127.0.0.1:12112"), "forwards no local port 12112")
	// Without the component the workflow opts in to, the Service is not deployed.
	assertProblem(t, broken(`\n  - ../../components/stripe-standin\n`, `\n`), "overlay prod", "no Service stripe-standin")
}
