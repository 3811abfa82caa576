package validate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The manifests as users deploy them: every overlay, alone and with every
// combination of components, and the cert-manager TLS set-up.

func TestEveryOverlayAndComponentCombinationRendersAndDecodesStrictly(t *testing.T) {
	cases := renders(t)
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
		assert.Equal(t, "ticketing", c.M.Namespace, "%s: every object in namespace ticketing", c.Name)
		assert.NotEmpty(t, c.M.Deployments, c.Name)
		assert.NotEmpty(t, c.M.NetworkPolicies, c.Name)
	}
	// The ones CI must never silently stop rendering.
	for _, want := range []string{"dev", "prod", "dev+stripe-mock", "prod+stripe-mock", "dev+stripe-standin", "prod+stripe-standin", "dev+jetstream", "prod+jetstream"} {
		assert.Contains(t, names, want)
	}
}

// The pairs the renderings skip must really be unusable together: if one
// starts to render, the reason given for skipping it is no longer true.
func TestExclusiveComponentsDoNotRenderTogether(t *testing.T) {
	r := theRepo(t)
	require.NotEmpty(t, exclusiveComponents)
	for _, p := range exclusiveComponents {
		for _, o := range []string{"dev", "prod"} {
			_, err := RenderWithComponents(t.TempDir(), r.k8s("overlays", o), []string{r.k8s("components", p.A), r.k8s("components", p.B)})
			assert.Error(t, err, "%s+%s+%s renders; is it still exclusive? (%s)", o, p.A, p.B, p.Why)
		}
		for _, c := range renders(t) {
			assert.Empty(t, excluded(c.Components), c.Name)
		}
	}
}

func TestCertManagerTLSRendersAndIssuesTheIngressSecret(t *testing.T) {
	r := theRepo(t)
	tls, err := Render(r.k8s("tls", "cert-manager"))
	require.NoError(t, err)
	require.Equal(t, "ticketing", tls.Namespace)
	issuers := map[string]bool{}
	for _, i := range tls.Issuers {
		issuers[i.Name] = true
	}
	secrets := map[string][]string{}
	for _, c := range tls.Certificates {
		assert.True(t, issuers[c.Spec.IssuerRef.Name], "Certificate %s is issued by Issuer %s, which is not in the set-up", c.Name, c.Spec.IssuerRef.Name)
		secrets[c.Spec.SecretName] = c.Spec.DNSNames
	}
	for _, c := range renders(t) {
		for _, ing := range c.M.Ingresses {
			for _, t2 := range ing.Spec.TLS {
				assert.Subset(t, secrets[t2.SecretName], t2.Hosts, "%s: Ingress %s's TLS secret %s is issued by cert-manager for its hosts", c.Name, ing.Name, t2.SecretName)
			}
		}
	}
}

func TestPodsAreHardened(t *testing.T) {
	for _, c := range renders(t) {
		writable := WritableRoot{}
		if c.Dev() {
			writable = devWritable
		}
		assert.Empty(t, CheckHardening(c.M, writable), c.Name)
	}
}

func TestEveryContainerHasProbesResourcesAndTimeToDrain(t *testing.T) {
	r := theRepo(t)
	for _, c := range renders(t) {
		assert.Empty(t, CheckProbes(c.M, r.skaffold), c.Name)
		assert.Empty(t, CheckResources(c.M), c.Name)
		assert.Empty(t, CheckGracePeriod(c.M, r.skaffold, r.drain), c.Name)
	}
}

func TestEveryImageIsBuiltByAnArtifactOrPinned(t *testing.T) {
	r := theRepo(t)
	for _, c := range renders(t) {
		assert.Empty(t, CheckImages(c.M, r.skaffold, "ticketing/"), c.Name)
	}
}

func TestEveryServiceHasTheEnvironmentItRequires(t *testing.T) {
	r := theRepo(t)
	for _, c := range renders(t) {
		assert.Empty(t, CheckEnv(c.M, r.skaffold, r.required), c.Name)
		seen := map[string]bool{}
		for _, w := range c.M.Workloads() {
			seen[ServiceOf(w, r.skaffold)] = true
		}
		for svc := range ContractEnv {
			assert.True(t, seen[svc], "%s: no Deployment runs %s", c.Name, svc)
		}
	}
}

// The source scan feeds the env check; prove it reads the real code.
func TestRequiredEnvIsReadFromTheServicesCode(t *testing.T) {
	r := theRepo(t)
	for svc, want := range map[string][]string{
		"auth":       {"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLIENT_ID"},
		"expiration": {"NATS_URL", "NATS_CLIENT_ID", "REDIS_URL"},
	} {
		got, err := RequiredEnvInSource(r.root, svc)
		require.NoError(t, err)
		assert.ElementsMatch(t, want, got, svc)
	}
}

func TestServicesSelectPodsAndTargetDeclaredPorts(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckServices(c.M), c.Name)
	}
}

func TestIngressPathsLeadToServicePorts(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckIngress(c.M), c.Name)
	}
}

func TestEverySecretReadIsOneTheGuideCreates(t *testing.T) {
	r := theRepo(t)
	for _, name := range []string{"jwt-secret", "stripe-secret", "ticketing-dev-tls"} {
		require.Contains(t, r.docSecrets, name, "docs/kubernetes.md creates %s", name)
	}
	assert.True(t, r.docSecrets["jwt-secret"].Keys["JWT_KEY"])
	assert.True(t, r.docSecrets["stripe-secret"].Keys["STRIPE_KEY"])
	assert.True(t, r.docSecrets["stripe-secret"].Keys["STRIPE_WEBHOOK_SECRET"], "the webhook signing secret is in the documented secret")
	for _, c := range renders(t) {
		assert.Empty(t, CheckSecretsDocumented(c.M, r.docSecrets), c.Name)
	}
}

func TestEveryStoreAuthenticatesWithCredentialsFromSecrets(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckStoreAuth(c.M), c.Name)
		users := 0
		for _, s := range c.M.StatefulSets {
			st, _ := storeOf(c.M, s)
			users += len(st.users)
		}
		// 7 broker users, 4 MongoDB users, Redis: the check saw every store.
		// JetStream's configuration has the six users that connect; the
		// seventh key (stan) authenticates its routes (-cluster, -routes).
		want := 12
		if slices.Contains(c.Components, "jetstream") {
			want = 11
		}
		assert.Equal(t, want, users, c.Name)
	}
}

func TestNetworkPoliciesAllowExactlyWhatTheArchitectureNeeds(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckNetwork(c.M), c.Name)
	}
}

func TestProductionScalesOutAndSurvivesDrains(t *testing.T) {
	for _, c := range renders(t) {
		if c.Overlay != "prod" {
			continue
		}
		assert.Empty(t, CheckProduction(c.M, []string{"tickets", "orders"}), c.Name)
	}
}

func TestDevelopmentShortensTheReservationWindow(t *testing.T) {
	window := func(m *Manifests) string {
		for _, e := range m.Deployment("orders").Spec.Template.Spec.Containers[0].Env {
			if e.Name == "ORDER_EXPIRATION_WINDOW" {
				return e.Value
			}
		}
		return ""
	}
	assert.Equal(t, "2m", window(renderDev(t)))
	assert.Equal(t, "15m", window(renderProd(t)), "production keeps DESIGN.md's default")
}

// Every Go service in the repository (a module with a main.go at its root)
// has an image, so a new service cannot be forgotten in skaffold.yaml.
func TestEveryGoServiceHasAnArtifact(t *testing.T) {
	r := theRepo(t)
	entries, err := os.ReadDir(r.root)
	require.NoError(t, err)
	var services []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		_, modErr := os.Stat(filepath.Join(r.root, e.Name(), "go.mod"))
		main, mainErr := os.ReadFile(filepath.Join(r.root, e.Name(), "main.go"))
		if modErr == nil && mainErr == nil && strings.Contains(string(main), "package main") {
			services = append(services, e.Name())
		}
	}
	require.Contains(t, services, "auth")
	var built []string
	for _, a := range r.skaffold.Build.Artifacts {
		if s := a.Service(); s != "" {
			built = append(built, s)
		}
	}
	for _, s := range services {
		assert.True(t, slices.Contains(built, s), "%s has no artifact in skaffold.yaml", s)
	}
}

// singleStores are the stores that stay one pod in production, and why:
// none (expiration's Redis too is replicated, with Sentinel).
var singleStores = map[string]string{}

func TestProductionReplicatesEveryStoreAcrossNodes(t *testing.T) {
	for _, c := range renders(t) {
		single := singleStores
		if c.Overlay != "prod" {
			// Development: one pod per store, except JetStream's cluster,
			// which components/jetstream runs on three nodes everywhere.
			single = map[string]string{}
			for _, s := range c.M.StatefulSets {
				if st, _ := storeOf(c.M, s); st.kind != kindJetStream {
					single[s.Name] = "development"
				}
			}
		}
		assert.Empty(t, CheckReplicatedStores(c.M, single), c.Name)
		replicated := 0
		for _, s := range c.M.StatefulSets {
			if _, ok := single[s.Name]; !ok {
				replicated++
			}
		}
		if c.Overlay == "prod" {
			// 4 MongoDBs, the broker and Redis: the check saw them all.
			assert.Equal(t, 6, replicated, c.Name)
		} else if slices.Contains(c.Components, "jetstream") {
			assert.Equal(t, 1, replicated, c.Name)
		}
	}
}

func TestEveryConnectionStringMatchesItsStoresTopology(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckStoreTopology(c.M), c.Name)
	}
}
