package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// repo is what every test reads from the repository, loaded once.
type repo struct {
	root        string
	skaffold    *SkaffoldConfig
	skaffoldRaw []byte
	docSecrets  map[string]*DocumentedSecret
	drain       time.Duration
	// required is, per service, ContractEnv plus what its code requires.
	required map[string][]string
}

var loadRepo = sync.OnceValues(func() (*repo, error) {
	// go test runs in the package's folder, infra/k8s/validate.
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return nil, err
	}
	r := &repo{root: root, required: map[string][]string{}}
	if r.skaffold, r.skaffoldRaw, err = LoadSkaffold(filepath.Join(root, "skaffold.yaml")); err != nil {
		return nil, err
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "kubernetes.md"))
	if err != nil {
		return nil, err
	}
	r.docSecrets = SecretsInDoc(string(doc))
	if r.drain, err = ShutdownTimeout(root); err != nil {
		return nil, err
	}
	for svc, vars := range ContractEnv {
		fromCode, err := RequiredEnvInSource(root, svc)
		if err != nil {
			return nil, err
		}
		r.required[svc] = append(slices.Clone(vars), fromCode...)
	}
	return r, nil
})

func theRepo(t *testing.T) *repo {
	t.Helper()
	r, err := loadRepo()
	require.NoError(t, err)
	return r
}

func (r *repo) k8s(parts ...string) string {
	return filepath.Join(append([]string{r.root, "infra", "k8s"}, parts...)...)
}

// renderCase is one rendering CI proves: an overlay with a set of components.
type renderCase struct {
	Name       string
	Overlay    string // "dev" or "prod"
	Components []string
	M          *Manifests
	Docs       [][]byte // the rendering's documents, as kubectl would apply them
}

// Dev is true for the development overlay, the only place the client's root
// filesystem may be writable.
func (c renderCase) Dev() bool { return c.Overlay == "dev" }

var renderAll = sync.OnceValues(func() ([]renderCase, error) {
	r, err := loadRepo()
	if err != nil {
		return nil, err
	}
	overlays, err := subdirs(r.k8s("overlays"))
	if err != nil {
		return nil, err
	}
	components, err := subdirs(r.k8s("components"))
	if err != nil {
		return nil, err
	}
	var out []renderCase
	for _, o := range overlays {
		for _, set := range Subsets(components) {
			if excluded(set) != "" {
				continue
			}
			name := strings.Join(append([]string{o}, set...), "+")
			var docs [][]byte
			if len(set) == 0 {
				docs, err = RenderDocs(r.k8s("overlays", o))
			} else {
				tmp, terr := os.MkdirTemp("", "kustomize-")
				if terr != nil {
					return nil, terr
				}
				paths := make([]string, len(set))
				for i, c := range set {
					paths[i] = r.k8s("components", c)
				}
				docs, err = RenderDocsWithComponents(tmp, r.k8s("overlays", o), paths)
				os.RemoveAll(tmp)
			}
			if err != nil {
				return nil, err
			}
			m, err := Decode(docs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out = append(out, renderCase{Name: name, Overlay: o, Components: set, M: m, Docs: docs})
		}
	}
	return out, nil
})

// exclusiveComponents are pairs of components that are never listed
// together, with the reason; every other combination is rendered and proved.
var exclusiveComponents = []struct {
	A, B, Why string
}{
	{"stripe-mock", "stripe-standin", "both are where payments' STRIPE_API_BASE points and both replace " +
		"payments' internet egress rule with a rule to themselves: together they do not render (the second " +
		"patch's test of port 443 fails), and one payments cannot talk to two Stripes"},
}

// excluded is why the component set is never deployed, or "".
func excluded(set []string) string {
	for _, p := range exclusiveComponents {
		if slices.Contains(set, p.A) && slices.Contains(set, p.B) {
			return p.A + " with " + p.B + ": " + p.Why
		}
	}
	return ""
}

func renders(t *testing.T) []renderCase {
	t.Helper()
	cases, err := renderAll()
	require.NoError(t, err)
	return cases
}

func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

var (
	devDocs  = sync.OnceValues(func() ([][]byte, error) { return renderOverlayDocs("dev") })
	prodDocs = sync.OnceValues(func() ([][]byte, error) { return renderOverlayDocs("prod") })
)

func renderOverlayDocs(overlay string) ([][]byte, error) {
	r, err := loadRepo()
	if err != nil {
		return nil, err
	}
	return RenderDocs(r.k8s("overlays", overlay))
}

// renderDev decodes a fresh copy of the development overlay, for tests that
// break it.
func renderDev(t *testing.T) *Manifests {
	t.Helper()
	return decodeFresh(t, devDocs)
}

func renderProd(t *testing.T) *Manifests {
	t.Helper()
	return decodeFresh(t, prodDocs)
}

func decodeFresh(t *testing.T, docs func() ([][]byte, error)) *Manifests {
	t.Helper()
	d, err := docs()
	require.NoError(t, err)
	m, err := Decode(d)
	require.NoError(t, err)
	return m
}

// devWritable is the one container allowed a writable root filesystem, in
// development only.
var devWritable = WritableRoot{"Deployment/client/client": "skaffold's file sync copies edited sources into the running next dev"}
