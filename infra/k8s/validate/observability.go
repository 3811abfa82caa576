package validate

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// The observability component's files, as its ConfigMaps hold them.
const (
	PrometheusConfigKey = "prometheus.yml"
	AlertsKey           = "alerts.yml"
)

// prometheusConfig is the part of prometheus.yml the checks read.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

// scrapeTargets are the host:port targets of every prometheus.yml in the
// manifests, and what cannot be read.
func (m *Manifests) scrapeTargets() ([]string, []string) {
	var targets, problems []string
	for _, cm := range m.ConfigMaps {
		raw, ok := cm.Data[PrometheusConfigKey]
		if !ok {
			continue
		}
		var cfg prometheusConfig
		if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
			problems = append(problems, fmt.Sprintf("ConfigMap %s: %s: %v", cm.Name, PrometheusConfigKey, err))
			continue
		}
		for _, sc := range cfg.ScrapeConfigs {
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				problems = append(problems, fmt.Sprintf("ConfigMap %s: job %s scrapes %s, not the services' /metrics", cm.Name, sc.JobName, sc.MetricsPath))
			}
			for _, st := range sc.StaticConfigs {
				targets = append(targets, st.Targets...)
			}
		}
	}
	return targets, problems
}

// scrapeFlows are Prometheus's connections to what it scrapes: a needed flow
// like any configured URL, and a target that is no Service port of ours is
// a problem.
func (m *Manifests) scrapeFlows(pods map[string]*Endpoint) ([]Flow, []string) {
	targets, problems := m.scrapeTargets()
	if len(targets) == 0 {
		return nil, problems
	}
	var scrapers []*Endpoint
	for _, w := range m.Workloads() {
		for _, c := range w.Template.Spec.Containers {
			if slices.ContainsFunc(c.Args, func(a string) bool {
				return strings.HasPrefix(a, "--config.file=") && strings.HasSuffix(a, PrometheusConfigKey)
			}) {
				scrapers = append(scrapers, pods[w.Name])
			}
		}
	}
	if len(scrapers) == 0 {
		problems = append(problems, "a prometheus.yml is in the manifests but no container runs with it")
	}
	var flows []Flow
	for _, target := range targets {
		to, port, problem := m.resolve(pods, &url.URL{Scheme: "http", Host: target})
		if problem != "" {
			problems = append(problems, fmt.Sprintf("scrape target %s: %s", target, problem))
			continue
		}
		for _, from := range scrapers {
			for _, t := range to {
				flows = append(flows, Flow{from, t, port, "TCP"})
			}
		}
	}
	return flows, problems
}

// CheckScraping: when the manifests hold a Prometheus configuration, every
// target is a Service port of ours and every Go service (services) is
// scraped on the port its Service serves HTTP on.
func CheckScraping(m *Manifests, services []string) []string {
	targets, problems := m.scrapeTargets()
	if len(targets) == 0 {
		return problems
	}
	_, p := m.scrapeFlows(m.PodEndpoints())
	problems = append(problems, p...)
	scraped := map[string]bool{}
	for _, t := range targets {
		host, port, err := net.SplitHostPort(t)
		if err != nil {
			continue // reported by scrapeFlows
		}
		name, _, _ := strings.Cut(host, ".")
		svc := m.Service(name)
		if svc == nil {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if strconv.Itoa(int(sp.Port)) == port && sp.Name == "http" {
				scraped[name] = true
			}
		}
	}
	for _, s := range services {
		if !scraped[s] {
			problems = append(problems, fmt.Sprintf("service %s is not scraped on its http port", s))
		}
	}
	return problems
}

// Queries are every PromQL expression of the dashboards (JSON) and alerts in
// the manifests' ConfigMaps, by where each is.
func (m *Manifests) Queries() (map[string][]string, []string) {
	queries := map[string][]string{}
	var problems []string
	for _, cm := range m.ConfigMaps {
		for _, key := range keys(cm.Data) {
			where := "ConfigMap " + cm.Name + ": " + key
			switch {
			case strings.HasSuffix(key, ".json"):
				var d struct {
					Panels []struct {
						Title   string `json:"title"`
						Targets []struct {
							Expr string `json:"expr"`
						} `json:"targets"`
					} `json:"panels"`
				}
				if err := yaml.Unmarshal([]byte(cm.Data[key]), &d); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", where, err))
					continue
				}
				if len(d.Panels) == 0 {
					problems = append(problems, where+": a dashboard without panels")
				}
				for _, p := range d.Panels {
					if len(p.Targets) == 0 {
						problems = append(problems, fmt.Sprintf("%s: panel %q queries nothing", where, p.Title))
					}
					for _, t := range p.Targets {
						queries[where] = append(queries[where], t.Expr)
					}
				}
			case key == AlertsKey:
				var rules struct {
					Groups []struct {
						Rules []struct {
							Alert string `json:"alert"`
							Expr  string `json:"expr"`
						} `json:"rules"`
					} `json:"groups"`
				}
				if err := yaml.Unmarshal([]byte(cm.Data[key]), &rules); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", where, err))
					continue
				}
				for _, g := range rules.Groups {
					for _, r := range g.Rules {
						queries[where] = append(queries[where], r.Expr)
					}
				}
			}
		}
	}
	return queries, problems
}

// metricName finds what in a PromQL expression names a metric, by the
// naming conventions the services follow (a unit or _total suffix), or a
// runtime metric (runtimePrefixes).
var metricName = regexp.MustCompile(`\b[a-z][a-z0-9_]*(_total|_seconds|_seconds_bucket|_seconds_count|_seconds_sum|_events|_bytes|_goroutines)\b|\bup\b`)

// ExportedMetrics is what the services export: the names common/metrics
// lists (Names), and the prefixes of the runtime's (Prefixes).
type ExportedMetrics struct {
	Names    []string
	Prefixes []string
}

// knows reports whether name is one the services export, a histogram's
// series included, or Prometheus's own up.
func (e ExportedMetrics) knows(name string) bool {
	if name == "up" || slices.ContainsFunc(e.Prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
		return true
	}
	for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
		if slices.Contains(e.Names, strings.TrimSuffix(name, suffix)) && (suffix == "" || strings.HasSuffix(name, suffix)) {
			return true
		}
	}
	return false
}

// CheckQueries: every metric a dashboard or an alert names is one the
// services export, and every metric they export is on some dashboard.
func CheckQueries(m *Manifests, exported ExportedMetrics) []string {
	queries, problems := m.Queries()
	if len(queries) == 0 {
		return problems
	}
	shown := map[string]bool{}
	for _, where := range keys(queries) {
		for _, q := range queries[where] {
			names := metricName.FindAllString(q, -1)
			if len(names) == 0 {
				problems = append(problems, fmt.Sprintf("%s: %q names no metric", where, q))
			}
			for _, n := range names {
				if !exported.knows(n) {
					problems = append(problems, fmt.Sprintf("%s: %q names %s, which no service exports", where, q, n))
				}
				if strings.HasSuffix(where, ".json") {
					for _, suffix := range []string{"_bucket", "_count", "_sum"} {
						n = strings.TrimSuffix(n, suffix)
					}
					shown[n] = true
				}
			}
		}
	}
	for _, n := range exported.Names {
		if !shown[n] {
			problems = append(problems, fmt.Sprintf("no dashboard shows %s", n))
		}
	}
	return problems
}

// ExportedMetricsInSource reads common/metrics's Names and Prefixes from its
// source under root: the validator is a module of its own and does not
// import the services' code.
func ExportedMetricsInSource(root string) (ExportedMetrics, error) {
	path := filepath.Join(root, "common", "metrics", "metrics.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return ExportedMetrics{}, err
	}
	consts := stringConsts(f)
	var e ExportedMetrics
	if e.Names, err = returnedConsts(f, "Names", consts); err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	if e.Prefixes, err = returnedConsts(f, "Prefixes", consts); err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	if len(e.Names) == 0 || len(e.Prefixes) == 0 {
		return e, fmt.Errorf("%s: Names or Prefixes lists nothing", path)
	}
	return e, nil
}

// stringConsts are the file's string constants, by name.
func stringConsts(f *ast.File) map[string]string {
	consts := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				consts[name.Name], _ = strconv.Unquote(lit.Value)
			}
		}
		return true
	})
	return consts
}

// returnedConsts are the values of the constants the function fn names.
func returnedConsts(f *ast.File, fn string, consts map[string]string) ([]string, error) {
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn || fd.Recv != nil {
			continue
		}
		var out []string
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				if v, ok := consts[id.Name]; ok {
					out = append(out, v)
				}
			}
			return true
		})
		return out, nil
	}
	return nil, fmt.Errorf("no func %s", fn)
}

// CheckMetricsNotPublic: no Ingress path leads a request for /metrics to a
// Go service (services): metrics are for the scraper inside the cluster.
func CheckMetricsNotPublic(m *Manifests, services []string) []string {
	var problems []string
	for _, p := range m.IngressPaths() {
		if p.Backend.Service == nil || !slices.Contains(services, p.Backend.Service.Name) {
			continue
		}
		if pathReaches(p.Path, p.PathType, "/metrics") {
			problems = append(problems, fmt.Sprintf("Ingress %s: path %s sends /metrics to %s", p.Ingress.Name, p.Path, p.Backend.Service.Name))
		}
	}
	return problems
}

// pathReaches reports whether an Ingress path of the given type matches
// target, as ingress-nginx matches Prefix (by whole segments), Exact and
// ImplementationSpecific (a prefix, or a regular expression with use-regex).
func pathReaches(path string, pathType *networkingv1.PathType, target string) bool {
	if pathType != nil && *pathType == networkingv1.PathTypeExact {
		return path == target
	}
	if pathType != nil && *pathType == networkingv1.PathTypePrefix {
		p := strings.TrimSuffix(path, "/")
		return p == "" || target == p || strings.HasPrefix(target, p+"/")
	}
	if re, err := regexp.Compile("^" + path); err == nil && re.MatchString(target) {
		return true
	}
	return strings.HasPrefix(target, path)
}
