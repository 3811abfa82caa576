package validate

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// What the deployment workflow's test steps reach, beyond the files it
// names (CheckDeployWorkflow): the Go test packages it runs and the build tags
// it runs them with, the environment it hands them, the files that
// environment names, and the Services it port-forwards, as the job deploys
// them (its overlay with the components it opts in to).

// Deployed renders an overlay with components, as a job that lists them
// under the overlay's `components:` deploys it.
type Deployed func(overlay string, components []string) (*Manifests, error)

var (
	goTest      = regexp.MustCompile(`\bgo\s+(?:test|vet)\b[^\n]*`)
	goTags      = regexp.MustCompile(`\s-tags[= ]([A-Za-z0-9_,.]+)`)
	cdDir       = regexp.MustCompile(`(?m)^\s*cd\s+(\S+)\s*$`)
	portForward = regexp.MustCompile(`\bkubectl\s+port-forward\s+([^\n&|;>]*)`)
	forwardPort = regexp.MustCompile(`^(\d*):?(\d+)$`)
	secretToVar = regexp.MustCompile(`\bkubectl\s+get\s+secret\s+(\S+)[^\n]*>\s*"?\$\{?(\w+)\}?"?`)
	localURL    = regexp.MustCompile(`^https?://(?:127\.0\.0\.1|localhost):(\d+)\b`)
	redirect    = regexp.MustCompile(`>\s*("?[$\w{}/.-]+"?)`)
)

// CheckWorkflowTargets checks, for every job and every value of its overlay
// matrix:
//   - every `go test`/`go vet` with -tags runs in a folder whose Go files
//     use each tag in a //go:build line;
//   - every variable a step that runs `go test` sets is read by that
//     folder's Go code (the go command's own GO… variables aside);
//   - a *_FILE variable naming a path outside the repository is written by
//     the job (a redirection to it) no later than the step that reads it;
//   - a certificate the job takes from a Secret for a base URL is the TLS
//     secret of the Ingress serving that URL's host;
//   - every `kubectl port-forward` targets a Service of the rendering the
//     job deploys, in its namespace, on one of its ports, and every
//     http://127.0.0.1:PORT a step hands over is a port the job forwards.
func CheckWorkflowTargets(root, path string, raw []byte, deployed Deployed) []string {
	var wf Workflow
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var problems []string
	for _, name := range keys(wf.Jobs) {
		job := wf.Jobs[name]
		overlays := job.overlays()
		if len(overlays) == 0 {
			overlays = []string{""}
		}
		for _, overlay := range overlays {
			where := fmt.Sprintf("%s job %s", path, name)
			if overlay != "" {
				where += " (overlay " + overlay + ")"
			}
			problems = append(problems, job.checkTargets(root, where, overlay, deployed)...)
		}
	}
	return problems
}

// overlays are the values of the job's overlay matrix.
func (j WorkflowJob) overlays() []string {
	list, _ := j.Strategy.Matrix["overlay"].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// steps are the job's steps as they run for overlay: $OVERLAY replaced.
func (j WorkflowJob) steps(overlay string) []WorkflowStep {
	out := make([]WorkflowStep, 0, len(j.Steps))
	for _, s := range j.Steps {
		s.Run = strings.ReplaceAll(s.Run, "$OVERLAY", overlay)
		env := make(map[string]string, len(s.Env))
		for k, v := range s.Env {
			env[k] = strings.ReplaceAll(v, "$OVERLAY", overlay)
		}
		s.Env = env
		out = append(out, s)
	}
	return out
}

func (j WorkflowJob) checkTargets(root, where, overlay string, deployed Deployed) []string {
	steps := j.steps(overlay)
	var problems []string
	var written []string // the files the job has written so far
	var forwarded []string
	var m *Manifests
	render := func() (*Manifests, []string) {
		if m != nil || overlay == "" {
			return m, nil
		}
		var err error
		if m, err = deployed(overlay, jobComponents(steps)); err != nil {
			return nil, []string{fmt.Sprintf("%s: rendering what it deploys: %v", where, err)}
		}
		return m, nil
	}
	for _, s := range steps {
		at := where + " step " + strconv.Quote(s.Name)
		written = append(written, redirections(s)...)
		problems = append(problems, checkGoTests(root, at, s)...)
		problems = append(problems, checkEnvFiles(root, at, s, written)...)
		if portForward.MatchString(s.Run) || secretToVar.MatchString(s.Run) {
			rendered, errs := render()
			problems = append(problems, errs...)
			if rendered == nil {
				if overlay == "" {
					problems = append(problems, at+": a port-forward or a Secret read in a job without an overlay matrix: the check cannot tell what it deploys")
				}
				continue
			}
			ports, ps := checkPortForwards(at, s.Run, rendered)
			forwarded = append(forwarded, ports...)
			problems = append(problems, ps...)
			problems = append(problems, checkCertificateSecrets(at, s, rendered)...)
		}
	}
	return append(problems, checkLocalURLs(where, steps, forwarded)...)
}

// jobComponents are the components the job's steps opt in to.
func jobComponents(steps []WorkflowStep) []string {
	var out []string
	for _, s := range steps {
		for _, m := range component.FindAllStringSubmatch(s.Run, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

// redirections are the files a step writes with `> file`, its variables
// resolved from its environment.
func redirections(s WorkflowStep) []string {
	var out []string
	for _, m := range redirect.FindAllStringSubmatch(s.Run, -1) {
		target := strings.Trim(m[1], `"`)
		for k, v := range s.Env {
			target = strings.ReplaceAll(strings.ReplaceAll(target, "${"+k+"}", v), "$"+k, v)
		}
		out = append(out, target)
	}
	return out
}

// checkGoTests: each tag of a `go test -tags` is used by the Go files of the
// folder it runs in, and each variable the step sets is read there.
func checkGoTests(root, at string, s WorkflowStep) []string {
	var problems []string
	for _, loc := range goTest.FindAllStringIndex(s.Run, -1) {
		dir := "."
		for _, cd := range cdDir.FindAllStringSubmatch(s.Run[:loc[0]], -1) {
			dir = filepath.Join(dir, cd[1])
		}
		src, err := goSources(filepath.Join(root, dir))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: go test in %s: %v", at, dir, err))
			continue
		}
		line := s.Run[loc[0]:loc[1]]
		for _, m := range goTags.FindAllStringSubmatch(line, -1) {
			for _, tag := range strings.Split(m[1], ",") {
				if !regexp.MustCompile(`(?m)^//go:build\b.*\b` + regexp.QuoteMeta(tag) + `\b`).MatchString(src) {
					problems = append(problems, fmt.Sprintf("%s: no Go file in %s is built with the tag %q", at, dir, tag))
				}
			}
		}
		for _, k := range keys(s.Env) {
			if !strings.HasPrefix(k, "GO") && !strings.HasPrefix(k, "CGO_") && !strings.Contains(src, strconv.Quote(k)) {
				problems = append(problems, fmt.Sprintf("%s: it sets %s, which no Go file in %s reads", at, k, dir))
			}
		}
	}
	return problems
}

// goSources is the text of every Go file under dir.
func goSources(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		raw, err := os.ReadFile(p)
		b.Write(raw)
		b.WriteByte('\n')
		return err
	})
	if err == nil && b.Len() == 0 {
		err = fmt.Errorf("no Go files")
	}
	return b.String(), err
}

// checkEnvFiles: a *_FILE variable names a file of the repository that
// exists, or one the job has written by the end of the step.
func checkEnvFiles(root, at string, s WorkflowStep, written []string) []string {
	var problems []string
	for _, k := range keys(s.Env) {
		v := s.Env[k]
		if !strings.HasSuffix(k, "_FILE") {
			continue
		}
		if !filepath.IsAbs(v) {
			if _, err := os.Stat(filepath.Join(root, v)); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s=%s does not exist", at, k, v))
			}
			continue
		}
		if !slices.Contains(written, v) {
			problems = append(problems, fmt.Sprintf("%s: %s=%s, which nothing in the job writes before it is read", at, k, v))
		}
	}
	return problems
}

// checkPortForwards: each `kubectl port-forward -n NS svc/NAME [LOCAL:]REMOTE`
// reaches a Service of m in its namespace on a port it has; it returns the
// local ports forwarded.
func checkPortForwards(at, script string, m *Manifests) (local []string, problems []string) {
	for _, pf := range portForward.FindAllStringSubmatch(script, -1) {
		ns, target, ports := parsePortForward(pf[1])
		name, isService := strings.CutPrefix(target, "svc/")
		if !isService {
			name, isService = strings.CutPrefix(target, "service/")
		}
		if !isService {
			problems = append(problems, fmt.Sprintf("%s: port-forward to %q: the check reads Service targets (svc/NAME) only", at, target))
			continue
		}
		if ns != m.Namespace {
			problems = append(problems, fmt.Sprintf("%s: port-forward in namespace %q, but the deployment is in %q", at, ns, m.Namespace))
		}
		svc := m.Service(name)
		if svc == nil {
			problems = append(problems, fmt.Sprintf("%s: port-forward to svc/%s: the deployment has no Service %s", at, name, name))
			continue
		}
		for _, p := range ports {
			l, remote := p[0], p[1]
			if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return strconv.Itoa(int(sp.Port)) == remote }) {
				problems = append(problems, fmt.Sprintf("%s: port-forward to svc/%s port %s: the Service has no port %s", at, name, remote, remote))
			}
			local = append(local, l)
		}
	}
	return local, problems
}

// parsePortForward reads a port-forward's namespace (default "default"),
// target and [local, remote] ports.
func parsePortForward(args string) (ns, target string, ports [][2]string) {
	ns = "default"
	fields := strings.Fields(args)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case (f == "-n" || f == "--namespace") && i+1 < len(fields):
			ns = fields[i+1]
			i++
		case strings.HasPrefix(f, "--namespace="):
			ns = strings.TrimPrefix(f, "--namespace=")
		case strings.Contains(f, "/"):
			target = f
		default:
			if m := forwardPort.FindStringSubmatch(f); m != nil {
				l := m[1]
				if l == "" {
					l = m[2]
				}
				ports = append(ports, [2]string{l, m[2]})
			}
		}
	}
	return ns, target, ports
}

// checkCertificateSecrets: `kubectl get secret S … > "$VAR"` in a step
// whose *BASE_URL names https://HOST takes the certificate of the Ingress
// that serves HOST.
func checkCertificateSecrets(at string, s WorkflowStep, m *Manifests) []string {
	var problems []string
	for _, sm := range secretToVar.FindAllStringSubmatch(s.Run, -1) {
		for _, k := range keys(s.Env) {
			u, err := url.Parse(s.Env[k])
			if !strings.HasSuffix(k, "BASE_URL") || err != nil || u.Scheme != "https" {
				continue
			}
			secrets := m.TLSSecretsFor(u.Hostname())
			if !slices.Contains(secrets, sm[1]) {
				problems = append(problems, fmt.Sprintf("%s: %s comes from Secret %s, but the Ingress serving %s uses %v", at, sm[2], sm[1], u.Hostname(), secrets))
			}
		}
	}
	return problems
}

// checkLocalURLs: every http://127.0.0.1:PORT a step hands over is a local
// port the job forwards.
func checkLocalURLs(where string, steps []WorkflowStep, forwarded []string) []string {
	var problems []string
	for _, s := range steps {
		for _, k := range keys(s.Env) {
			if m := localURL.FindStringSubmatch(s.Env[k]); m != nil && !slices.Contains(forwarded, m[1]) {
				problems = append(problems, fmt.Sprintf("%s step %q: %s=%s, but the job forwards no local port %s", where, s.Name, k, s.Env[k], m[1]))
			}
		}
	}
	return problems
}

// TLSSecretsFor lists the secrets of the Ingress TLS entries covering host.
func (m *Manifests) TLSSecretsFor(host string) []string {
	var out []string
	for _, ing := range m.Ingresses {
		for _, tls := range ing.Spec.TLS {
			if slices.Contains(tls.Hosts, host) {
				out = append(out, tls.SecretName)
			}
		}
	}
	return out
}
