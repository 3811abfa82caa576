package validate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// The evaluator is what the network check trusts; these pin its semantics to
// the NetworkPolicy API's.
func TestPolicySemantics(t *testing.T) {
	decode := func(doc string) *networkingv1.NetworkPolicy {
		np := &networkingv1.NetworkPolicy{}
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), np))
		return np
	}
	pod := func(name string, ports ...corev1.ContainerPort) *Endpoint {
		return &Endpoint{Name: name, Namespace: "ns", NSLabels: map[string]string{"kubernetes.io/metadata.name": "ns"},
			Labels: map[string]string{"app": name}, Ports: ports}
	}
	web := pod("web", corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	db := pod("db", corev1.ContainerPort{Name: "db", ContainerPort: 5432})
	other := &Endpoint{Name: "other", Namespace: "elsewhere", NSLabels: map[string]string{"kubernetes.io/metadata.name": "elsewhere", "team": "x"},
		Labels: map[string]string{"app": "web"}}
	tcp := corev1.ProtocolTCP

	t.Run("no policy selecting a pod leaves it open", func(t *testing.T) {
		p := Policies{Namespace: "ns"}
		assert.True(t, p.Allows(Flow{web, db, 5432, tcp}))
	})
	t.Run("a policy with no rules isolates", func(t *testing.T) {
		p := Policies{Namespace: "ns", List: []*networkingv1.NetworkPolicy{decode(`
spec:
  podSelector: {matchLabels: {app: db}}
`)}}
		assert.False(t, p.Allows(Flow{web, db, 5432, tcp}))
		assert.True(t, p.Allows(Flow{db, web, 8080, tcp}), "only Ingress is implied without egress rules")
	})
	t.Run("a named port is the destination's", func(t *testing.T) {
		p := Policies{Namespace: "ns", List: []*networkingv1.NetworkPolicy{decode(`
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: db}]
`)}}
		assert.True(t, p.Allows(Flow{web, db, 5432, tcp}))
		assert.False(t, p.Allows(Flow{web, db, 5433, tcp}))
		assert.False(t, p.Allows(Flow{web, db, 5432, corev1.ProtocolUDP}))
	})
	t.Run("namespace and pod selectors in one peer are ANDed, in two peers ORed", func(t *testing.T) {
		and := Policies{Namespace: "ns", List: []*networkingv1.NetworkPolicy{decode(`
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: x}}
          podSelector: {matchLabels: {app: api}}
`)}}
		assert.False(t, and.Allows(Flow{other, db, 5432, tcp}), "other is in team x but is not app=api")
		or := Policies{Namespace: "ns", List: []*networkingv1.NetworkPolicy{decode(`
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: x}}
        - podSelector: {matchLabels: {app: api}}
`)}}
		assert.True(t, or.Allows(Flow{other, db, 5432, tcp}))
	})
	t.Run("a pod selector alone means the policy's own namespace", func(t *testing.T) {
		p := Policies{Namespace: "ns", List: []*networkingv1.NetworkPolicy{decode(`
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
`)}}
		assert.True(t, p.Allows(Flow{web, db, 5432, tcp}))
		assert.False(t, p.Allows(Flow{other, db, 5432, tcp}), "app=web in another namespace")
	})
	t.Run("ipBlock excepts", func(t *testing.T) {
		p := Policies{Namespace: "ns", List: []*networkingv1.NetworkPolicy{decode(`
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 169.254.0.0/16]}}]
      ports: [{port: 443, protocol: TCP}]
`)}}
		assert.True(t, p.Allows(Flow{web, &Internet, 443, tcp}))
		assert.False(t, p.Allows(Flow{web, &PrivateAddress, 443, tcp}))
		assert.False(t, p.Allows(Flow{web, &CloudMetadata, 443, tcp}))
		assert.False(t, p.Allows(Flow{web, db, 443, tcp}), "ipBlock never matches pods here")
	})
}

func TestParseDockerfile(t *testing.T) {
	df, err := ParseDockerfile([]byte(`# syntax=docker/dockerfile:1
ARG BASE=golang:1.26
FROM ${BASE} AS build
ARG SERVICE
COPY common/go.mod \
     common/go.sum common/
COPY ${SERVICE}/ ${SERVICE}/
RUN go build

FROM build AS dev
USER app

FROM gcr.io/distroless/static:nonroot
COPY --from=build --chown=1:1 /out/service /service
USER 65532:65532
`))
	require.NoError(t, err)
	require.Len(t, df.Stages, 3)
	assert.Equal(t, "golang:1.26", df.Args["BASE"])
	assert.Equal(t, []string{"common/go.mod", "common/go.sum"}, df.Stages[0].Copies[0].Sources)
	assert.Equal(t, "build", df.Stages[2].Copies[0].From)
	assert.Equal(t, "app", df.RunsAs(df.Target("dev")))
	assert.Equal(t, "65532:65532", df.RunsAs(df.Target("")))
	assert.Equal(t, "", df.RunsAs(df.Target("build")))
	assert.Len(t, df.Needed(df.Target("")), 2, "the final stage copies from build")
}

func TestDockerBuildCheckCatches(t *testing.T) {
	r := theRepo(t)
	str := func(s string) *string { return &s }
	goService := func(svc string) SkaffoldArtifact {
		return SkaffoldArtifact{Image: "ticketing/" + svc, Context: ".", Docker: &SkaffoldDocker{
			Dockerfile: "infra/docker/service.Dockerfile", BuildArgs: map[string]*string{"SERVICE": str(svc)}}}
	}
	assert.Empty(t, CheckDockerBuild(r.root, goService("auth")))
	assertProblem(t, CheckDockerBuild(r.root, goService("billing")), "billing/go.mod", "does not exist")

	missingTarget := SkaffoldArtifact{Image: "ticketing/client", Context: "client", Docker: &SkaffoldDocker{Target: "develop"}}
	assertProblem(t, CheckDockerBuild(r.root, missingTarget), `target "develop"`)

	// A context whose ignore file drops what the build copies, with a
	// Dockerfile that forgets to leave root.
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("app/package.json", "{}")
	write("app/package-lock.json", "{}")
	write("app/.dockerignore", "package-lock.json\n")
	write("app/Dockerfile", "FROM node\nCOPY package.json package-lock.json ./\nCOPY src/ src/\n")
	problems := CheckDockerBuild(dir, SkaffoldArtifact{Image: "x", Context: "app", Docker: &SkaffoldDocker{}})
	assertProblem(t, problems, `"package-lock.json" is excluded`)
	assertProblem(t, problems, `"src/" does not exist`)
	assertProblem(t, problems, `base image "node" has no pinned tag`)
	assertProblem(t, problems, "runs as root")
}

func TestTheRootContextSendsGoSourcesOnly(t *testing.T) {
	r := theRepo(t)
	ignore, err := LoadDockerIgnore(r.root, filepath.Join(r.root, "infra", "docker", "service.Dockerfile"))
	require.NoError(t, err)
	for path, sent := range map[string]bool{
		"auth/main.go":                  true,
		"common/go.sum":                 true,
		"common/bus/bus.go":             true,
		"auth/internal/api/api_test.go": false,
		"auth/README.md":                false,
		"client/package.json":           false,
		"bin/ferretdb":                  false,
		".git/config":                   false,
		"docs/kubernetes.md":            false,
	} {
		assert.Equal(t, sent, ignore.Sends(path), path)
	}
}

func TestSecretsInDoc(t *testing.T) {
	got := SecretsInDoc("Run:\n\n" +
		"```sh\n" +
		"kubectl create secret generic jwt-secret --namespace ticketing --from-literal=JWT_KEY=\"$(openssl rand -base64 32)\"\n" +
		"kubectl -n ticketing create secret generic stripe-secret \\\n" +
		"  --from-literal=STRIPE_KEY=sk_test_x \\\n" +
		"  --from-file=STRIPE_PUBLISHABLE_KEY=./pk.txt\n" +
		"kubectl create secret tls ticketing-dev-tls --namespace=ticketing --cert=a.pem --key=b.pem\n" +
		"kubectl get secret other -o yaml\n" +
		"```\n")
	require.Len(t, got, 3)
	assert.Equal(t, "ticketing", got["jwt-secret"].Namespace)
	assert.Equal(t, map[string]bool{"JWT_KEY": true}, got["jwt-secret"].Keys)
	assert.Equal(t, "ticketing", got["stripe-secret"].Namespace)
	assert.Equal(t, map[string]bool{"STRIPE_KEY": true, "STRIPE_PUBLISHABLE_KEY": true}, got["stripe-secret"].Keys)
	assert.Equal(t, "tls", got["ticketing-dev-tls"].Type)
	assert.Equal(t, "ticketing", got["ticketing-dev-tls"].Namespace)
}

func TestSkaffoldProfilePatchesMustApply(t *testing.T) {
	raw := []byte(`apiVersion: skaffold/v4beta14
kind: Config
metadata: {name: x}
build:
  artifacts:
    - image: a
      docker: {target: dev}
manifests: {kustomize: {paths: [dev]}}
deploy: {kubectl: {}}
profiles:
  - name: moved
    patches:
      - op: test
        path: /build/artifacts/0/image
        value: b
      - op: remove
        path: /build/artifacts/0/docker/target
`)
	_, err := EffectiveSkaffold(raw, "moved")
	assert.ErrorContains(t, err, "patches do not apply", "a patch aimed at the wrong artifact is caught")
	typo := append(raw, "  - name: typo\n    manifests: {kustomise: {paths: [prod]}}\n"...)
	_, err = EffectiveSkaffold(typo, "moved")
	assert.ErrorContains(t, err, `unknown field "kustomise"`, "strict decoding rejects a misspelt field")
}
