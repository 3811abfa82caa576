package validate

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestSkaffoldConfigIsCurrentAndTagsWithTheCommit(t *testing.T) {
	c := theRepo(t).skaffold
	assert.Equal(t, SkaffoldAPIVersion, c.APIVersion)
	assert.Equal(t, "Config", c.Kind)
	require.NotNil(t, c.Build.TagPolicy)
	assert.NotNil(t, c.Build.TagPolicy.GitCommit, "images are tagged with their git commit")
	paths, err := c.KustomizePaths()
	require.NoError(t, err)
	assert.Equal(t, []string{"infra/k8s/overlays/dev"}, paths)
}

// Each way skaffold is run, as its profiles make it.
var skaffoldRuns = [][]string{{}, {"prod"}, {"gcb"}, {"prod", "gcb"}}

func TestEverySkaffoldRunBuildsWhatItDeploys(t *testing.T) {
	r := theRepo(t)
	for _, profiles := range skaffoldRuns {
		name := "default"
		if len(profiles) > 0 {
			name = strings.Join(profiles, ",")
		}
		t.Run(name, func(t *testing.T) {
			c, err := EffectiveSkaffold(r.skaffoldRaw, profiles...)
			require.NoError(t, err)
			for _, a := range c.Build.Artifacts {
				assert.Empty(t, CheckDockerBuild(r.root, a))
			}
			paths, err := c.KustomizePaths()
			require.NoError(t, err)
			used := map[string]bool{}
			for _, p := range paths {
				m, err := Render(filepath.Join(r.root, p))
				require.NoError(t, err)
				assert.Empty(t, CheckImages(m, c, "ticketing/"))
				for _, w := range m.Workloads() {
					for _, ct := range allContainers(w.Template.Spec) {
						used[ct.Image] = true
					}
				}
			}
			for _, a := range c.Build.Artifacts {
				if comp, ok := optInArtifacts[a.Image]; ok {
					assert.False(t, used[a.Image], "artifact %s is deployed without its component %s", a.Image, comp)
					assert.True(t, deployedWith(t, r, paths, comp, a.Image), "artifact %s is built but component %s does not deploy it", a.Image, comp)
					continue
				}
				assert.True(t, used[a.Image], "artifact %s is built but deployed by nothing", a.Image)
			}
		})
	}
}

// optInArtifacts are the images that only an opt-in component deploys, with
// that component. Every skaffold run builds them anyway: skaffold's kustomize
// deployer cannot add a component, and a profile per component would need a
// kustomization per overlay and component, while opting in is one line in the
// overlay (docs/kubernetes.md). The price is one small image built and not
// deployed when the component is not listed; the test still proves the
// component deploys it in every run's overlays.
var optInArtifacts = map[string]string{
	"ticketing/stripe-standin": "stripe-standin",
}

// deployedWith: every kustomization in paths, with component added, runs image.
func deployedWith(t *testing.T, r *repo, paths []string, component, image string) bool {
	t.Helper()
	for _, p := range paths {
		m, err := RenderWithComponents(t.TempDir(), filepath.Join(r.root, p), []string{r.k8s("components", component)})
		require.NoError(t, err)
		found := false
		for _, w := range m.Workloads() {
			for _, ct := range allContainers(w.Template.Spec) {
				found = found || ct.Image == image
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestDevelopmentSyncsTheClientAndProductionDoesNot(t *testing.T) {
	r := theRepo(t)
	dev, err := EffectiveSkaffold(r.skaffoldRaw)
	require.NoError(t, err)
	client := dev.Artifact("ticketing/client")
	require.NotNil(t, client)
	assert.Equal(t, "dev", client.Docker.Target)
	require.NotNil(t, client.Sync)
	for _, rule := range client.Sync.Manual {
		matches, _ := filepath.Glob(filepath.Join(r.root, client.Context, strings.TrimSuffix(rule.Src, "**/*"), "*"))
		assert.NotEmpty(t, matches, "sync rule %s matches no client source", rule.Src)
		assert.Equal(t, ".", rule.Dest, "synced into the dev stage's WORKDIR")
	}

	for _, profiles := range [][]string{{"prod"}, {"prod", "gcb"}} {
		prod, err := EffectiveSkaffold(r.skaffoldRaw, profiles...)
		require.NoError(t, err)
		client := prod.Artifact("ticketing/client")
		require.NotNil(t, client)
		assert.Empty(t, client.Docker.Target, "production builds the Dockerfile's last stage")
		assert.Nil(t, client.Sync, "nothing is synced into the read-only production client")
		paths, err := prod.KustomizePaths()
		require.NoError(t, err)
		assert.Equal(t, []string{"infra/k8s/overlays/prod"}, paths)
	}
}

func TestTheGKEProfileBuildsOnCloudBuild(t *testing.T) {
	r := theRepo(t)
	for _, profiles := range [][]string{{"gcb"}, {"prod", "gcb"}} {
		c, err := EffectiveSkaffold(r.skaffoldRaw, profiles...)
		require.NoError(t, err)
		assert.NotNil(t, c.Build.GoogleCloudBuild, profiles)
		assert.Nil(t, c.Build.Local, "googleCloudBuild replaces the local builder")
		assert.Len(t, c.Build.Artifacts, len(r.skaffold.Build.Artifacts), "the same images")
	}
}

func TestPortForwardsNameRealServicePorts(t *testing.T) {
	r := theRepo(t)
	m := renderDev(t)
	require.NotEmpty(t, r.skaffold.PortForward)
	for _, f := range r.skaffold.PortForward {
		assert.Equal(t, "service", f.ResourceType)
		assert.Equal(t, m.Namespace, f.Namespace)
		svc := m.Service(f.ResourceName)
		require.NotNil(t, svc, f.ResourceName)
		assert.True(t, slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == f.Port }),
			"Service %s has no port %d", f.ResourceName, f.Port)
	}
}
