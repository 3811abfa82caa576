package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The deployment workflow (.github/workflows/kind.yml) cannot run here: no
// Docker, no cluster. What a reading can prove, CheckDeployWorkflow does:
// every file, folder, overlay, component and skaffold profile it names
// exists, its kind cluster is one the prod overlay fits on, and every edit it
// makes to a file finds what it edits.

// Workflow is the part of a GitHub Actions workflow the check reads.
type Workflow struct {
	Jobs map[string]WorkflowJob `json:"jobs"`
}

type WorkflowJob struct {
	Strategy struct {
		Matrix map[string]any `json:"matrix"`
	} `json:"strategy"`
	Steps []WorkflowStep `json:"steps"`
}

// WorkflowStep is one step of a job: its script and the environment it
// sets for it.
type WorkflowStep struct {
	Name string            `json:"name"`
	Run  string            `json:"run"`
	Env  map[string]string `json:"env"`
}

// KindCluster is a kind cluster configuration (kind.x-k8s.io/v1alpha4),
// decoded strictly: the fields the repository's cluster uses.
type KindCluster struct {
	Kind       string     `json:"kind"`
	APIVersion string     `json:"apiVersion"`
	Nodes      []KindNode `json:"nodes"`
}

type KindNode struct {
	Role              string            `json:"role"`
	Labels            map[string]string `json:"labels,omitempty"`
	ExtraPortMappings []struct {
		ContainerPort int `json:"containerPort"`
		HostPort      int `json:"hostPort"`
	} `json:"extraPortMappings,omitempty"`
}

var (
	repoPath    = regexp.MustCompile(`(?:^|[\s"'=(])((?:infra|client|common|docs|auth|tickets|orders|expiration|payments)/[A-Za-z0-9_./${}-]*[A-Za-z0-9_}])`)
	profileFlag = regexp.MustCompile(`\bskaffold\s+\w+[^\n]*?\s-p\s+([a-z0-9,-]+)`)
	component   = regexp.MustCompile(`\.\./\.\./components/([a-z0-9-]+)`)
	kindConfig  = regexp.MustCompile(`kind\s+create\s+cluster[^\n]*--config\s+(\S+)`)
	sedEdit     = regexp.MustCompile(`sed -i "s/([^/"]+)/[^/"]*/" (\S+)`)
)

// CheckDeployWorkflow checks a workflow (raw, read from path) against the
// repository at root and its skaffold configuration.
func CheckDeployWorkflow(root, path string, raw []byte, cfg *SkaffoldConfig) []string {
	var wf Workflow
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var problems []string
	for name, job := range wf.Jobs {
		for _, script := range job.scripts() {
			where := fmt.Sprintf("%s job %s", path, name)
			problems = append(problems, checkPathsExist(root, where, script)...)
			problems = append(problems, checkProfiles(where, script, cfg)...)
			problems = append(problems, checkEdits(root, where, script)...)
			for _, m := range kindConfig.FindAllStringSubmatch(script, -1) {
				problems = append(problems, CheckKindCluster(root, m[1])...)
			}
		}
	}
	return problems
}

// scripts are the job's run scripts, once per value of each matrix variable
// they use ($OVERLAY for matrix.overlay), so every path is checked as it runs.
func (j WorkflowJob) scripts() []string {
	var out []string
	for _, step := range j.Steps {
		variants := []string{step.Run}
		for key, values := range j.Strategy.Matrix {
			list, ok := values.([]any)
			if !ok {
				continue
			}
			variable := "$" + strings.ToUpper(key)
			var next []string
			for _, v := range variants {
				if !strings.Contains(v, variable) {
					next = append(next, v)
					continue
				}
				for _, value := range list {
					next = append(next, strings.ReplaceAll(v, variable, fmt.Sprint(value)))
				}
			}
			variants = next
		}
		out = append(out, variants...)
	}
	return out
}

func checkPathsExist(root, where, script string) []string {
	var problems []string
	for _, m := range repoPath.FindAllStringSubmatch(script, -1) {
		p := m[1]
		if strings.Contains(p, "$") {
			problems = append(problems, fmt.Sprintf("%s: %s: a variable the check cannot resolve", where, p))
			continue
		}
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s does not exist", where, p))
		}
	}
	for _, m := range component.FindAllStringSubmatch(script, -1) {
		if _, err := os.Stat(filepath.Join(root, "infra", "k8s", "components", m[1], "kustomization.yaml")); err != nil {
			problems = append(problems, fmt.Sprintf("%s: component %s does not exist", where, m[1]))
		}
	}
	return problems
}

func checkProfiles(where, script string, cfg *SkaffoldConfig) []string {
	var problems []string
	for _, m := range profileFlag.FindAllStringSubmatch(script, -1) {
		for _, name := range strings.Split(m[1], ",") {
			if findProfile(cfg.Profiles, name) == nil {
				problems = append(problems, fmt.Sprintf("%s: skaffold.yaml has no profile %q", where, name))
			}
		}
	}
	return problems
}

// checkEdits: a `sed -i "s/old/new/" file` finds old in file, so the step
// that relies on the edit tests what it means to.
func checkEdits(root, where, script string) []string {
	var problems []string
	for _, m := range sedEdit.FindAllStringSubmatch(script, -1) {
		text, err := os.ReadFile(filepath.Join(root, m[2]))
		if err != nil {
			continue // checkPathsExist names it
		}
		if !strings.Contains(string(text), m[1]) {
			problems = append(problems, fmt.Sprintf("%s: %s no longer contains %q, which the workflow edits", where, m[2], m[1]))
		}
	}
	return problems
}

// CheckKindCluster: the workflow's kind cluster decodes strictly, maps the
// host's ports 80 and 443 to a node labelled ingress-ready (where the kind
// manifest of ingress-nginx runs), and has at least three workers, one per
// member of a prod replica set.
func CheckKindCluster(root, path string) []string {
	raw, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return []string{err.Error()}
	}
	var c KindCluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var problems []string
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		problems = append(problems, fmt.Sprintf("%s: not a kind.x-k8s.io/v1alpha4 Cluster", path))
	}
	workers, ingressPorts := 0, []int{}
	for _, n := range c.Nodes {
		if n.Role == "worker" {
			workers++
		}
		if n.Labels["ingress-ready"] == "true" {
			for _, pm := range n.ExtraPortMappings {
				if pm.ContainerPort == pm.HostPort {
					ingressPorts = append(ingressPorts, pm.HostPort)
				}
			}
		}
	}
	if !slices.Contains(ingressPorts, 80) || !slices.Contains(ingressPorts, 443) {
		problems = append(problems, fmt.Sprintf("%s: no ingress-ready node maps the host's ports 80 and 443", path))
	}
	if workers < 3 {
		problems = append(problems, fmt.Sprintf("%s: %d workers; a prod replica set spreads three members over three nodes", path, workers))
	}
	return problems
}
