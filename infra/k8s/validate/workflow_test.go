package validate

import (
	"os"
	"path/filepath"
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
