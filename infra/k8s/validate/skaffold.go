package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"sigs.k8s.io/yaml"
)

// SkaffoldAPIVersion is the skaffold.yaml schema the repository is written for.
const SkaffoldAPIVersion = "skaffold/v4beta14"

// The structs below mirror the part of skaffold's schema that skaffold.yaml
// uses, with skaffold's field names. Decoding is strict, so a field that is
// misspelt, misplaced or not modelled here fails the test: model a new field
// (from skaffold's schema) when skaffold.yaml starts using it.

// SkaffoldConfig is skaffold.yaml.
type SkaffoldConfig struct {
	APIVersion  string            `json:"apiVersion"`
	Kind        string            `json:"kind"`
	Metadata    SkaffoldMetadata  `json:"metadata"`
	Build       SkaffoldBuild     `json:"build"`
	Manifests   SkaffoldManifests `json:"manifests"`
	Deploy      SkaffoldDeploy    `json:"deploy"`
	PortForward []SkaffoldForward `json:"portForward,omitempty"`
	Profiles    []SkaffoldProfile `json:"profiles,omitempty"`
}

type SkaffoldMetadata struct {
	Name string `json:"name"`
}

type SkaffoldBuild struct {
	TagPolicy        *SkaffoldTagPolicy  `json:"tagPolicy,omitempty"`
	Local            *SkaffoldLocal      `json:"local,omitempty"`
	GoogleCloudBuild *SkaffoldCloudBuild `json:"googleCloudBuild,omitempty"`
	Artifacts        []SkaffoldArtifact  `json:"artifacts,omitempty"`
}

type SkaffoldTagPolicy struct {
	GitCommit *struct {
		Variant       string `json:"variant,omitempty"`
		Prefix        string `json:"prefix,omitempty"`
		IgnoreChanges bool   `json:"ignoreChanges,omitempty"`
	} `json:"gitCommit,omitempty"`
}

type SkaffoldLocal struct {
	Push        *bool `json:"push,omitempty"`
	UseBuildkit *bool `json:"useBuildkit,omitempty"`
	Concurrency *int  `json:"concurrency,omitempty"`
}

type SkaffoldCloudBuild struct {
	ProjectID   string `json:"projectId,omitempty"`
	DiskSizeGb  int64  `json:"diskSizeGb,omitempty"`
	MachineType string `json:"machineType,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	Region      string `json:"region,omitempty"`
}

type SkaffoldArtifact struct {
	Image   string          `json:"image"`
	Context string          `json:"context,omitempty"`
	Docker  *SkaffoldDocker `json:"docker,omitempty"`
	Sync    *SkaffoldSync   `json:"sync,omitempty"`
}

type SkaffoldDocker struct {
	Dockerfile string             `json:"dockerfile,omitempty"`
	Target     string             `json:"target,omitempty"`
	BuildArgs  map[string]*string `json:"buildArgs,omitempty"`
}

type SkaffoldSync struct {
	Manual []SkaffoldSyncRule `json:"manual,omitempty"`
}

type SkaffoldSyncRule struct {
	Src   string `json:"src"`
	Dest  string `json:"dest"`
	Strip string `json:"strip,omitempty"`
}

type SkaffoldManifests struct {
	Kustomize *struct {
		Paths     []string `json:"paths,omitempty"`
		BuildArgs []string `json:"buildArgs,omitempty"`
	} `json:"kustomize,omitempty"`
}

type SkaffoldDeploy struct {
	Kubectl *struct {
		DefaultNamespace *string `json:"defaultNamespace,omitempty"`
	} `json:"kubectl,omitempty"`
	StatusCheckDeadlineSeconds    int   `json:"statusCheckDeadlineSeconds,omitempty"`
	TolerateFailuresUntilDeadline *bool `json:"tolerateFailuresUntilDeadline,omitempty"`
}

type SkaffoldForward struct {
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	Namespace    string `json:"namespace,omitempty"`
	Port         int    `json:"port"`
	Address      string `json:"address,omitempty"`
	LocalPort    int    `json:"localPort,omitempty"`
}

type SkaffoldProfile struct {
	Name      string             `json:"name"`
	Patches   []SkaffoldPatch    `json:"patches,omitempty"`
	Build     *SkaffoldBuild     `json:"build,omitempty"`
	Manifests *SkaffoldManifests `json:"manifests,omitempty"`
	Deploy    *SkaffoldDeploy    `json:"deploy,omitempty"`
}

// SkaffoldPatch is one JSON patch operation of a profile. Op is required here
// although skaffold defaults it to replace: a patch should say what it does.
type SkaffoldPatch struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// LoadSkaffold reads and strictly decodes a skaffold.yaml.
func LoadSkaffold(path string) (*SkaffoldConfig, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var c SkaffoldConfig
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, raw, nil
}

// EffectiveSkaffold is the configuration skaffold runs with the named profiles
// active, in order: each profile's JSON patches are applied to the document,
// then the sections the profile sets replace the document's (skaffold's rule:
// a set field replaces, an artifact list replaces only when non-empty, and
// local and googleCloudBuild exclude each other).
func EffectiveSkaffold(raw []byte, profiles ...string) (*SkaffoldConfig, error) {
	doc, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	for _, name := range profiles {
		var c SkaffoldConfig
		if err := yaml.UnmarshalStrict(doc, &c); err != nil {
			return nil, err
		}
		p := findProfile(c.Profiles, name)
		if p == nil {
			return nil, fmt.Errorf("no profile %q", name)
		}
		if len(p.Patches) > 0 {
			ops, err := json.Marshal(p.Patches)
			if err != nil {
				return nil, err
			}
			patch, err := jsonpatch.DecodePatch(ops)
			if err != nil {
				return nil, fmt.Errorf("profile %s: %w", name, err)
			}
			if doc, err = patch.Apply(doc); err != nil {
				return nil, fmt.Errorf("profile %s: patches do not apply: %w", name, err)
			}
			// Decode into a fresh value: decoding over c would keep fields
			// the patches removed.
			c = SkaffoldConfig{}
			if err := yaml.UnmarshalStrict(doc, &c); err != nil {
				return nil, fmt.Errorf("profile %s: patched config: %w", name, err)
			}
		}
		overlayProfile(&c, p)
		if doc, err = json.Marshal(c); err != nil {
			return nil, err
		}
	}
	var c SkaffoldConfig
	if err := yaml.UnmarshalStrict(doc, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func findProfile(ps []SkaffoldProfile, name string) *SkaffoldProfile {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	return nil
}

func overlayProfile(c *SkaffoldConfig, p *SkaffoldProfile) {
	if b := p.Build; b != nil {
		if b.TagPolicy != nil {
			c.Build.TagPolicy = b.TagPolicy
		}
		if b.Local != nil || b.GoogleCloudBuild != nil {
			c.Build.Local, c.Build.GoogleCloudBuild = b.Local, b.GoogleCloudBuild
		}
		if len(b.Artifacts) > 0 {
			c.Build.Artifacts = b.Artifacts
		}
	}
	if p.Manifests != nil {
		c.Manifests = *p.Manifests
	}
	if p.Deploy != nil {
		c.Deploy = *p.Deploy
	}
}

// Artifact returns the artifact building image, or nil.
func (c *SkaffoldConfig) Artifact(image string) *SkaffoldArtifact {
	for i := range c.Build.Artifacts {
		if c.Build.Artifacts[i].Image == image {
			return &c.Build.Artifacts[i]
		}
	}
	return nil
}

// Service is the Go service an artifact builds (its SERVICE build argument),
// or "" for an image that is not one.
func (a SkaffoldArtifact) Service() string {
	if a.Docker == nil || a.Docker.BuildArgs["SERVICE"] == nil {
		return ""
	}
	return *a.Docker.BuildArgs["SERVICE"]
}

// KustomizePaths lists the kustomizations the configuration deploys.
func (c *SkaffoldConfig) KustomizePaths() ([]string, error) {
	if c.Manifests.Kustomize == nil || len(c.Manifests.Kustomize.Paths) == 0 {
		return nil, errors.New("manifests.kustomize.paths is empty")
	}
	return c.Manifests.Kustomize.Paths, nil
}
