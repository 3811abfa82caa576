package validate

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// The strongest check short of a cluster: every rendering is sent to a real
// Kubernetes API server (built from Kubernetes' own module into bin/ by make
// test-manifests, over an etcd of its own) with a server-side dry run and
// strict field validation. The server runs its defaulting, validation and
// admission on each object, as `kubectl apply --dry-run=server` would, and
// keeps nothing.

// crdSources are the CustomResourceDefinitions the renderings use, from the
// Go modules the validator decodes their types with.
var crdSources = []struct{ module, dir string }{
	{"github.com/cert-manager/cert-manager", "deploy/crds"},
	{"sigs.k8s.io/gateway-api", "config/crd/standard"},
}

func TestEveryRenderingPassesAServerSideDryRun(t *testing.T) {
	api := startAPIServer(t)
	crds := api.installCRDs(t)
	api.create(t, "/api/v1/namespaces", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ticketing"}}`))
	kinds := api.discoverWith(t, crds)

	tlsDocs, err := RenderDocs(theRepo(t).k8s("tls", "cert-manager"))
	require.NoError(t, err)
	cases := append(renders(t), renderCase{Name: "tls/cert-manager", Docs: tlsDocs})
	for _, c := range cases {
		require.NotEmpty(t, c.Docs, c.Name)
		for _, doc := range c.Docs {
			if problem := api.dryRun(kinds, doc); problem != "" {
				t.Errorf("%s: %s", c.Name, problem)
			}
		}
	}

	// The server refuses what only a server knows to refuse: an object in a
	// namespace that does not exist.
	doc := []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  namespace: nowhere\n")
	assert.Contains(t, api.dryRun(kinds, doc), `namespaces "nowhere" not found`)
	// And what strict decoding cannot see: a value out of range.
	doc = []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: ticketing\nspec:\n  ports:\n    - port: 70000\n")
	assert.Contains(t, api.dryRun(kinds, doc), "must be between 1 and 65535")
	// The Gateway API's CRDs are installed with their schemas: an Ingress's
	// path type is no HTTPRoute's.
	doc = []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: a\n  namespace: ticketing\nspec:\n  rules:\n    - matches:\n        - path:\n            type: Prefix\n            value: /\n")
	assert.Contains(t, api.dryRun(kinds, doc), `Unsupported value: "Prefix"`)
}

// apiServer is a running kube-apiserver, and how to call it as an admin.
type apiServer struct {
	url    string
	token  string
	client *http.Client
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	bin := os.Getenv("TICKETING_BIN")
	if bin == "" {
		bin = filepath.Join(theRepo(t).root, "bin")
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Fatalf("%s is not in %s: run make test-manifests, which builds it", name, bin)
		}
	}
	dir := t.TempDir()
	etcdClient, etcdPeer, secure := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	run(t, dir, filepath.Join(bin, "etcd"), "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL, "--log-level", "error")

	api := &apiServer{
		url:    fmt.Sprintf("https://127.0.0.1:%d", secure),
		token:  "validate-" + fmt.Sprint(time.Now().UnixNano()),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}, // its own self-signed certificate, on loopback
	}
	writeServiceAccountKeys(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(api.token+",admin,admin,system:masters\n"), 0o600))
	run(t, dir, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(secure),
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "AlwaysAllow", "--service-cluster-ip-range", "10.96.0.0/16",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"))
	api.waitReady(t)
	return api
}

// run starts a server for the rest of the test, its output in dir.
func run(t *testing.T, dir, path string, args ...string) {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, filepath.Base(path)+".log"))
	require.NoError(t, err)
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			log, _ := os.ReadFile(out.Name())
			t.Logf("%s's last output:\n%s", filepath.Base(path), tail(string(log), 4000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeServiceAccountKeys(t *testing.T, dir string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600))
}

func (a *apiServer) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, _, err := a.do("GET", "/readyz", nil)
		if err == nil && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API server was not ready within 2 minutes (last: %d %v)", status, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (a *apiServer) do(method, path string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	return res.StatusCode, answer, err
}

func (a *apiServer) create(t *testing.T, path string, body []byte) {
	t.Helper()
	status, answer, err := a.do("POST", path, body)
	require.NoError(t, err)
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, status, "POST %s: %s", path, answer)
}

// installCRDs creates every CustomResourceDefinition of crdSources and
// returns the kinds they define ("group/version/Kind").
func (a *apiServer) installCRDs(t *testing.T) []string {
	t.Helper()
	var kinds []string
	for _, src := range crdSources {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", src.module).Output()
		require.NoError(t, err, "locating %s (GOWORK=off, in the validator's module)", src.module)
		files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), src.dir, "*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, files, "no CRDs in %s/%s", src.module, src.dir)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			if !bytes.Contains(raw, []byte("\nkind: CustomResourceDefinition\n")) {
				continue // gateway-api's folder also holds a ValidatingAdmissionPolicy
			}
			body, err := yaml.YAMLToJSON(bytes.TrimPrefix(raw, []byte("---\n")))
			require.NoError(t, err)
			a.create(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body)
			var crd struct {
				Spec struct {
					Group    string
					Names    struct{ Kind string }
					Versions []struct {
						Name   string
						Served bool
					}
				}
			}
			require.NoError(t, json.Unmarshal(body, &crd))
			for _, v := range crd.Spec.Versions {
				if v.Served {
					kinds = append(kinds, crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind)
				}
			}
		}
	}
	return kinds
}

// discoverWith is discover, once the server serves every one of kinds.
func (a *apiServer) discoverWith(t *testing.T, kinds []string) map[string]served {
	t.Helper()
	var found map[string]served
	var missing []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		found, missing = a.discover(t), nil
		for _, k := range kinds {
			if _, ok := found[k]; !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes the server still serves none of %v", missing)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// served is where the server serves a kind.
type served struct {
	prefix     string // /api/v1 or /apis/<group>/<version>
	name       string // the plural, e.g. deployments
	namespaced bool
}

// discover maps "apiVersion/kind" to its resource, from the server's own
// discovery documents.
func (a *apiServer) discover(t *testing.T) map[string]served {
	t.Helper()
	prefixes := []string{"/api/v1"}
	var groups struct {
		Groups []struct {
			Versions []struct{ GroupVersion string } `json:"versions"`
		} `json:"groups"`
	}
	a.getJSON(t, "/apis", &groups)
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			prefixes = append(prefixes, "/apis/"+v.GroupVersion)
		}
	}
	kinds := map[string]served{}
	for _, p := range prefixes {
		var list struct {
			GroupVersion string `json:"groupVersion"`
			Resources    []struct {
				Name, Kind string
				Namespaced bool
			} `json:"resources"`
		}
		a.getJSON(t, p, &list)
		for _, r := range list.Resources {
			if !strings.Contains(r.Name, "/") {
				kinds[list.GroupVersion+"/"+r.Kind] = served{prefix: p, name: r.Name, namespaced: r.Namespaced}
			}
		}
	}
	return kinds
}

func (a *apiServer) getJSON(t *testing.T, path string, into any) {
	t.Helper()
	status, body, err := a.do("GET", path, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "GET %s: %s", path, body)
	require.NoError(t, json.Unmarshal(body, into))
}

// dryRun sends one document as a create with dryRun=All and strict field
// validation, and returns what the server refused ("" when it accepted it).
func (a *apiServer) dryRun(kinds map[string]served, doc []byte) string {
	body, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err.Error()
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name, Namespace string }
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return err.Error()
	}
	what := fmt.Sprintf("%s %s", meta.Kind, meta.Metadata.Name)
	r, ok := kinds[meta.APIVersion+"/"+meta.Kind]
	if !ok {
		return what + ": the server serves no " + meta.APIVersion + " " + meta.Kind
	}
	path := r.prefix + "/" + r.name
	if r.namespaced {
		if meta.Metadata.Namespace == "" {
			return what + ": no namespace"
		}
		path = r.prefix + "/namespaces/" + meta.Metadata.Namespace + "/" + r.name
	}
	status, answer, err := a.do("POST", path+"?dryRun=All&fieldValidation=Strict", body)
	if err != nil {
		return what + ": " + err.Error()
	}
	if status != http.StatusCreated && status != http.StatusOK {
		var refusal struct{ Message string }
		_ = json.Unmarshal(answer, &refusal)
		return fmt.Sprintf("%s: %d %s", what, status, refusal.Message)
	}
	return ""
}
