// Package validate proves the Kubernetes manifests without a cluster: it
// renders every Kustomize overlay (and every overlay with every combination of
// components) with the kustomize library, decodes each document strictly into
// its Kubernetes API type, and checks the invariants docs/kubernetes.md
// promises. The checks are functions returning the problems they find, so the
// tests can also feed them broken manifests and watch them fail.
//
// It is its own module, outside go.work, so the Kubernetes libraries never
// enter the services' build list: run it with GOWORK=off (make test-manifests).
package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Render builds the kustomization in dir, as `kubectl kustomize dir` would,
// and decodes every document strictly.
func Render(dir string) (*Manifests, error) {
	docs, err := RenderDocs(dir)
	if err != nil {
		return nil, err
	}
	return Decode(docs)
}

// RenderDocs builds the kustomization in dir into its YAML documents.
func RenderDocs(dir string) ([][]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	docs := make([][]byte, 0, resMap.Size())
	for _, r := range resMap.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize %s: %s: %w", dir, r.CurId(), err)
		}
		docs = append(docs, y)
	}
	return docs, nil
}

// RenderWithComponents renders overlay with components added, the way listing
// them under `components:` in the overlay would: a throwaway kustomization in
// tmp takes the overlay as its resource, adds the components and re-applies
// the overlay's namespace (the only transformer of ours that a component's
// own resources would otherwise miss).
func RenderWithComponents(tmp, overlay string, components []string) (*Manifests, error) {
	docs, err := RenderDocsWithComponents(tmp, overlay, components)
	if err != nil {
		return nil, err
	}
	return Decode(docs)
}

// RenderDocsWithComponents is RenderWithComponents' YAML documents.
func RenderDocsWithComponents(tmp, overlay string, components []string) ([][]byte, error) {
	base, err := Render(overlay)
	if err != nil {
		return nil, err
	}
	rel := func(p string) (string, error) { return filepath.Rel(tmp, p) }
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	if base.Namespace != "" {
		fmt.Fprintf(&b, "namespace: %s\n", base.Namespace)
	}
	r, err := rel(overlay)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "resources:\n  - %s\ncomponents:\n", r)
	for _, c := range components {
		r, err := rel(c)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  - %s\n", r)
	}
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return RenderDocs(tmp)
}

// Subsets returns every subset of items, the empty one first.
func Subsets(items []string) [][]string {
	sorted := append([]string(nil), items...)
	sort.Strings(sorted)
	out := [][]string{{}}
	for _, it := range sorted {
		n := len(out)
		for i := 0; i < n; i++ {
			out = append(out, append(append([]string(nil), out[i]...), it))
		}
	}
	return out
}

// typeMeta is what every document must carry to be decoded.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func kindOf(doc []byte) (typeMeta, error) {
	var tm typeMeta
	// Not strict: only these two fields are wanted here.
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return tm, err
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return tm, errors.New("document without apiVersion or kind")
	}
	return tm, nil
}
