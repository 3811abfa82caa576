package validate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheFirstDeployWaitsForTheStoresInEveryRun(t *testing.T) {
	r := theRepo(t)
	for _, profiles := range skaffoldRuns {
		c, err := EffectiveSkaffold(r.skaffoldRaw, profiles...)
		require.NoError(t, err)
		assert.Empty(t, CheckStartupTolerated(c), "profiles %v", profiles)
	}

	broken := *r.skaffold
	broken.Deploy.TolerateFailuresUntilDeadline = nil
	broken.Deploy.StatusCheckDeadlineSeconds = 60
	assertProblem(t, CheckStartupTolerated(&broken), "tolerateFailuresUntilDeadline")
	assertProblem(t, CheckStartupTolerated(&broken), "statusCheckDeadlineSeconds is 60")
}

func TestTheDevClientCanWriteItsBuild(t *testing.T) {
	r := theRepo(t)
	assert.Empty(t, CheckDevClientWritable(renderDev(t), r.skaffold))
	prod, err := EffectiveSkaffold(r.skaffoldRaw, "prod")
	require.NoError(t, err)
	assert.Empty(t, CheckDevClientWritable(renderProd(t), prod), "the production client runs next start, which writes only its cache")

	// As base alone mounts it: the cache volume inside .next, no volume at .next.
	m := renderDev(t)
	c := &m.Deployment("client").Spec.Template.Spec.Containers[0]
	kept := c.VolumeMounts[:0]
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != NextDevOutput {
			kept = append(kept, vm)
		}
	}
	c.VolumeMounts = kept
	assertProblem(t, CheckDevClientWritable(m, r.skaffold), "Deployment/client/client", "no emptyDir at /app/.next")
}

func TestHotReloadIsAllowedFromTheIngressHost(t *testing.T) {
	config, err := os.ReadFile(filepath.Join(theRepo(t).root, "client", "next.config.ts"))
	require.NoError(t, err)
	m := renderDev(t)
	assert.Equal(t, []string{"ticketing.dev"}, clientHosts(m))
	assert.Empty(t, CheckDevOrigins(m, string(config)))

	without := strings.Replace(string(config), "allowedDevOrigins", "allowedOrigins", 1)
	assertProblem(t, CheckDevOrigins(m, without), "does not list ticketing.dev")
	assertProblem(t, CheckDevOrigins(m, "allowedDevOrigins: ['localhost']"), "does not list ticketing.dev")
}

func TestEveryProductionDeployKeepsUnchangedStoresRunning(t *testing.T) {
	root := theRepo(t).root
	var files []string
	for _, pattern := range []string{"*.md", "docs/*.md", "infra/k8s/*.md", ".github/workflows/*.yml", "skaffold.yaml"} {
		found, err := filepath.Glob(filepath.Join(root, pattern))
		require.NoError(t, err)
		files = append(files, found...)
	}
	commands := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		require.NoError(t, err)
		commands += len(prodRun.FindAllString(string(text), -1))
		assert.Empty(t, CheckProdDeployCommands(f, string(text)))
	}
	assert.GreaterOrEqual(t, commands, 2, "docs/kubernetes.md and skaffold.yaml both show the prod deploy")

	assertProblem(t, CheckProdDeployCommands("guide", "skaffold run -p prod --default-repo=r"), "no --label "+ProdRunID)
	assertProblem(t, CheckProdDeployCommands("guide", "skaffold run -p prod,gcb \\\n  --default-repo=r"), "no --label")
	assert.Empty(t, CheckProdDeployCommands("guide", "skaffold dev -p gcb"))
}

// The validator expands {service} to the Services the client routes to.
func TestTheValidatorExpandsTheServicesTheClientRoutesTo(t *testing.T) {
	config, err := os.ReadFile(filepath.Join(theRepo(t).root, "client", "lib", "config.ts"))
	require.NoError(t, err)
	table := regexp.MustCompile(`(?s)API_SERVICES[^=]*= \{(.*?)\}`).FindSubmatch(config)
	require.NotNil(t, table, "API_SERVICES in client/lib/config.ts")
	var services []string
	for _, m := range regexp.MustCompile(`'/api/[a-z]+': '([a-z]+)'`).FindAllSubmatch(table[1], -1) {
		services = append(services, string(m[1]))
	}
	assert.Equal(t, ClientAPIServices, services)
}
