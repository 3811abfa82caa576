package validate

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Each Check* function returns the problems it finds in one rendered
// kustomization; none means the invariant holds.

// WritableRoot names containers ("Deployment/client/client") allowed a
// writable root filesystem, each with the reason.
type WritableRoot map[string]string

// CheckHardening: every pod runs as a non-root user with the runtime's seccomp
// profile, mounts no service account token and uses its own ServiceAccount;
// every container drops all capabilities, cannot escalate privileges and has
// a read-only root filesystem (unless exempted, with a reason).
func CheckHardening(m *Manifests, writable WritableRoot) []string {
	accounts, problems := serviceAccounts(m)
	for _, w := range m.Workloads() {
		pod := w.Template.Spec
		found := podIdentity(pod, accounts)
		found = append(found, podSecurityContext(pod.SecurityContext)...)
		for _, c := range allContainers(pod) {
			_, exempt := writable[w.ID()+"/"+c.Name]
			found = append(found, containerHardening(c, exempt)...)
		}
		problems = append(problems, prefixed(w.ID()+": ", found)...)
	}
	return problems
}

// serviceAccounts names the manifests' ServiceAccounts, and reports those that
// would hand every pod using them an API token.
func serviceAccounts(m *Manifests) (map[string]bool, []string) {
	var problems []string
	accounts := map[string]bool{}
	for _, sa := range m.ServiceAccounts {
		accounts[sa.Name] = true
		if !isFalse(sa.AutomountServiceAccountToken) {
			problems = append(problems, fmt.Sprintf("ServiceAccount %s: automountServiceAccountToken is not false", sa.Name))
		}
	}
	return accounts, problems
}

// podIdentity: the pod runs under an account of its own, without its token
// and without any of the host's namespaces.
func podIdentity(pod corev1.PodSpec, accounts map[string]bool) []string {
	var found []string
	if pod.ServiceAccountName == "" || pod.ServiceAccountName == "default" || !accounts[pod.ServiceAccountName] {
		found = append(found, fmt.Sprintf("serviceAccountName %q is not a ServiceAccount of its own in the manifests", pod.ServiceAccountName))
	}
	if !isFalse(pod.AutomountServiceAccountToken) {
		found = append(found, "automountServiceAccountToken is not false")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		found = append(found, "shares a host namespace")
	}
	return found
}

// podSecurityContext: the pod runs as a non-zero uid under the runtime's
// seccomp profile.
func podSecurityContext(psc *corev1.PodSecurityContext) []string {
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	var found []string
	if !isTrue(psc.RunAsNonRoot) {
		found = append(found, "pod securityContext.runAsNonRoot is not true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		// runAsNonRoot alone fails at start for an image whose USER is a name.
		found = append(found, "pod securityContext.runAsUser is not a non-zero uid")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		found = append(found, "pod securityContext.seccompProfile is not RuntimeDefault")
	}
	return found
}

// containerHardening: the container cannot gain privileges, holds no
// capabilities and cannot write its root filesystem unless writableRoot
// exempts it.
func containerHardening(c corev1.Container, writableRoot bool) []string {
	sc := c.SecurityContext
	if sc == nil {
		return []string{fmt.Sprintf("container %s has no securityContext", c.Name)}
	}
	var found []string
	bad := func(format string, args ...any) {
		found = append(found, fmt.Sprintf("container %s", c.Name)+fmt.Sprintf(format, args...))
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		bad(": allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		bad(" is privileged")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		bad(" runs as uid 0")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		bad(" does not drop ALL capabilities")
	} else if len(sc.Capabilities.Add) > 0 {
		bad(" adds capabilities %v", sc.Capabilities.Add)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) && !writableRoot {
		bad(": readOnlyRootFilesystem is not true")
	}
	return found
}

// isTrue and isFalse read an optional Kubernetes flag: unset is neither.
func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// prefixed puts where a check found its problems before each of them.
func prefixed(where string, found []string) []string {
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = where + f
	}
	return out
}

func allContainers(pod corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...)
}

// CheckProbes: every container has a readiness and a liveness probe aimed at
// a port it declares; a Go service's probes are HTTP GETs of /readyz and
// /healthz (the endpoints common/service serves).
func CheckProbes(m *Manifests, cfg *SkaffoldConfig) []string {
	var problems []string
	for _, w := range m.Workloads() {
		for _, c := range w.Template.Spec.Containers {
			found := probesAimed(c)
			if a := cfg.Artifact(c.Image); a != nil && a.Service() != "" {
				found = append(found, serviceProbes(c)...)
			}
			problems = append(problems, prefixed(fmt.Sprintf("%s/%s: ", w.ID(), c.Name), found)...)
		}
	}
	return problems
}

// probesAimed: readiness and liveness probes exist, and every probe has a
// handler that reaches the container (a port it declares, or a command).
func probesAimed(c corev1.Container) []string {
	var found []string
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	for _, kind := range []string{"readiness", "liveness", "startup"} {
		p := probes[kind]
		if p == nil {
			if kind != "startup" {
				found = append(found, fmt.Sprintf("no %s probe", kind))
			}
			continue
		}
		port, problem := probePort(p)
		if problem != "" {
			found = append(found, fmt.Sprintf("%s probe %s", kind, problem))
		}
		if port != nil && !declares(c, *port) {
			found = append(found, fmt.Sprintf("%s probe aims at port %s, which the container does not declare", kind, port.String()))
		}
	}
	return found
}

// probePort is the port a probe's handler connects to (nil for a command),
// or what is wrong with the handler.
func probePort(p *corev1.Probe) (*intstr.IntOrString, string) {
	switch {
	case p.HTTPGet != nil:
		return &p.HTTPGet.Port, ""
	case p.TCPSocket != nil:
		return &p.TCPSocket.Port, ""
	case p.GRPC != nil:
		return &intstr.IntOrString{IntVal: p.GRPC.Port}, ""
	case p.Exec != nil:
		if len(p.Exec.Command) == 0 {
			return nil, "runs no command"
		}
		return nil, ""
	}
	return nil, "has no handler"
}

// serviceProbes: a Go service is probed on the endpoints common/service
// serves, so readiness follows its dependencies and liveness does not.
func serviceProbes(c corev1.Container) []string {
	var found []string
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		found = append(found, "readiness probe is not GET /readyz")
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		found = append(found, "liveness probe is not GET /healthz")
	}
	return found
}

func declares(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}

// CheckResources: every container requests and is limited in CPU and memory,
// and requests no more than its limit.
func CheckResources(m *Manifests) []string {
	var problems []string
	for _, w := range m.Workloads() {
		for _, c := range allContainers(w.Template.Spec) {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[r]
				lim, hasLim := c.Resources.Limits[r]
				switch {
				case !hasReq || req.IsZero():
					problems = append(problems, fmt.Sprintf("%s/%s: no %s request", w.ID(), c.Name, r))
				case !hasLim || lim.IsZero():
					problems = append(problems, fmt.Sprintf("%s/%s: no %s limit", w.ID(), c.Name, r))
				case req.Cmp(lim) > 0:
					problems = append(problems, fmt.Sprintf("%s/%s: %s request %s exceeds limit %s", w.ID(), c.Name, r, req.String(), lim.String()))
				}
			}
		}
	}
	return problems
}

// CheckGracePeriod: a Go service gets, after its preStop pause, the drain time
// common/server allows in-flight work, before Kubernetes kills it.
func CheckGracePeriod(m *Manifests, cfg *SkaffoldConfig, drain time.Duration) []string {
	var problems []string
	for _, w := range m.Workloads() {
		grace := 30 * time.Second // the API's default
		if g := w.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		for _, c := range w.Template.Spec.Containers {
			var pause time.Duration
			if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
				pause = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
			}
			need := pause
			if a := cfg.Artifact(c.Image); a != nil && a.Service() != "" {
				need += drain
				if pause == 0 {
					problems = append(problems, fmt.Sprintf("%s/%s: no preStop pause; the ingress may still route new requests to a pod that stopped listening", w.ID(), c.Name))
				}
			}
			if grace <= need {
				problems = append(problems, fmt.Sprintf("%s: terminationGracePeriodSeconds %s does not exceed preStop %s + drain", w.ID(), grace, need))
			}
		}
	}
	return problems
}

// CheckImages: every image is either built by a skaffold artifact (named
// exactly as the artifact, which skaffold then tags) or a public image pinned
// to a tag; an image under our own name that no artifact builds would never
// exist.
func CheckImages(m *Manifests, cfg *SkaffoldConfig, ownPrefix string) []string {
	var problems []string
	for _, w := range m.Workloads() {
		for _, c := range allContainers(w.Template.Spec) {
			if cfg.Artifact(c.Image) != nil {
				continue
			}
			if strings.HasPrefix(c.Image, ownPrefix) {
				problems = append(problems, fmt.Sprintf("%s/%s: image %q is ours but no skaffold artifact builds it", w.ID(), c.Name, c.Image))
				continue
			}
			if p := checkBaseImage(c.Image); p != "" {
				problems = append(problems, fmt.Sprintf("%s/%s: %s", w.ID(), c.Name, p))
			}
		}
	}
	return problems
}

// ServiceOf maps a Deployment to the part of the system it runs: the Go
// service its image's artifact builds, or "client" for the client image.
func ServiceOf(w Workload, cfg *SkaffoldConfig) string {
	for _, c := range w.Template.Spec.Containers {
		if a := cfg.Artifact(c.Image); a != nil {
			if s := a.Service(); s != "" {
				return s
			}
			return strings.TrimPrefix(a.Image, "ticketing/")
		}
	}
	return ""
}

// CheckEnv: every variable a service requires is set on its container, none
// twice, and those with a fixed source come from it: secrets from the
// documented secrets, NATS_CLIENT_ID from the pod's name, MONGO_URI naming the
// service's own database, durations that parse.
func CheckEnv(m *Manifests, cfg *SkaffoldConfig, required map[string][]string) []string {
	var problems []string
	databaseUsers := map[string][]string{}
	for _, w := range m.Workloads() {
		svc := ServiceOf(w, cfg)
		if svc == "" {
			continue
		}
		c := w.Template.Spec.Containers[0]
		env, found := envByName(c)
		found = append(found, missingEnv(env, required[svc])...)
		for name, e := range env {
			if rule := fixedEnv[name]; rule != nil {
				found = appendIf(found, rule(e, w.Template.Spec))
			}
		}
		if e, ok := env["MONGO_URI"]; ok {
			host, problem := ownDatabase(e, svc)
			found = appendIf(found, problem)
			if host != "" {
				databaseUsers[host] = append(databaseUsers[host], svc)
			}
		}
		problems = append(problems, prefixed(fmt.Sprintf("%s/%s: ", w.ID(), c.Name), found)...)
	}
	for host, users := range databaseUsers {
		if len(users) > 1 {
			problems = append(problems, fmt.Sprintf("MongoDB %s is shared by %v; each service owns its database", host, users))
		}
	}
	return append(problems, natsServerFlags(m)...)
}

// envByName indexes a container's variables; a name set twice is a problem,
// because which value wins depends on the runtime's reading order.
func envByName(c corev1.Container) (map[string]corev1.EnvVar, []string) {
	var found []string
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			found = append(found, fmt.Sprintf("%s is set twice", e.Name))
		}
		env[e.Name] = e
	}
	return env, found
}

// missingEnv lists the required variables that are unset or empty.
func missingEnv(env map[string]corev1.EnvVar, required []string) []string {
	var found []string
	set := func(name string) bool {
		e, ok := env[name]
		return ok && (e.Value != "" || e.ValueFrom != nil)
	}
	for _, name := range required {
		if set(name) {
			continue
		}
		if alt := satisfiedBy[name]; len(alt) > 0 && set(alt[0]) {
			for _, a := range alt[1:] {
				if !set(a) {
					found = append(found, fmt.Sprintf("%s stands in for %s, but required %s is not set", alt[0], name, a))
				}
			}
			continue
		}
		found = append(found, fmt.Sprintf("required %s is not set", name))
	}
	return found
}

// fixedEnv holds, per variable that has one right source, the check of that
// source; each returns "" when the variable is right.
var fixedEnv = map[string]func(e corev1.EnvVar, pod corev1.PodSpec) string{
	"NATS_CLIENT_ID": func(e corev1.EnvVar, _ corev1.PodSpec) string {
		// Two replicas with one client id would knock each other off NATS Streaming.
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			return "NATS_CLIENT_ID is not the pod's name (fieldRef metadata.name)"
		}
		return ""
	},
	"JWT_KEY":               fromSecret("jwt-secret"),
	"STRIPE_KEY":            fromSecret("stripe-secret"),
	"STRIPE_WEBHOOK_SECRET": fromSecret("stripe-secret"),
	"NATS_CLUSTER_ID": func(e corev1.EnvVar, _ corev1.PodSpec) string {
		if e.Value != "ticketing" {
			return fmt.Sprintf("NATS_CLUSTER_ID is %q, not the cluster id NATS Streaming runs with", e.Value)
		}
		return ""
	},
	"COOKIE_SECURE": behindTLS,
	"TRUST_PROXY":   behindTLS,
	// Another origin here would let its pages make unsafe requests with the
	// visitor's session (common/middleware.RefuseCrossSite).
	"PUBLIC_ORIGINS": func(e corev1.EnvVar, _ corev1.PodSpec) string {
		if e.Value != "https://"+PublicHost {
			return fmt.Sprintf("PUBLIC_ORIGINS is %q, not the ingress's origin https://%s", e.Value, PublicHost)
		}
		return ""
	},
	"ORDER_EXPIRATION_WINDOW": func(e corev1.EnvVar, _ corev1.PodSpec) string {
		if d, err := time.ParseDuration(e.Value); err != nil || d <= 0 {
			return fmt.Sprintf("ORDER_EXPIRATION_WINDOW=%q is not a positive Go duration", e.Value)
		}
		return ""
	},
	"MAX_OPEN_ORDERS": func(e corev1.EnvVar, _ corev1.PodSpec) string {
		if n, err := strconv.Atoi(e.Value); err != nil || n < 1 {
			return fmt.Sprintf("MAX_OPEN_ORDERS=%q is not a whole number of at least 1", e.Value)
		}
		return ""
	},
	"MAX_PAYMENT_ATTEMPTS": func(e corev1.EnvVar, _ corev1.PodSpec) string {
		if n, err := strconv.Atoi(e.Value); err != nil || n < 1 {
			return fmt.Sprintf("MAX_PAYMENT_ATTEMPTS=%q is not a whole number of at least 1", e.Value)
		}
		return ""
	},
	"PORT": func(e corev1.EnvVar, pod corev1.PodSpec) string {
		if p, ok := containerPort(pod, "http", 0); !ok || fmt.Sprint(p.ContainerPort) != e.Value {
			return fmt.Sprintf("PORT=%s is not the container's http port", e.Value)
		}
		return ""
	},
}

// fromSecret checks that a variable comes, under its own name as the key,
// from the documented secret, never optionally: a pod without it must not start.
func fromSecret(secret string) func(e corev1.EnvVar, _ corev1.PodSpec) string {
	return func(e corev1.EnvVar, _ corev1.PodSpec) string {
		ref := secretRef(e)
		if ref == nil || ref.Name != secret || ref.Key != e.Name || isTrue(ref.Optional) {
			return fmt.Sprintf("%s does not come from secret %s key %s", e.Name, secret, e.Name)
		}
		return ""
	}
}

// behindTLS checks a flag that must be on because users reach the services
// through the TLS-terminating ingress.
func behindTLS(e corev1.EnvVar, _ corev1.PodSpec) string {
	if e.Value != "true" {
		return fmt.Sprintf("%s is %q; behind the TLS ingress it must be true", e.Name, e.Value)
	}
	return ""
}

// ownDatabase: MONGO_URI is a mongodb:// URL naming the service's own
// database; host is the server it names ("" when it does not parse).
func ownDatabase(e corev1.EnvVar, svc string) (host, problem string) {
	u, err := url.Parse(e.Value)
	if err != nil || u.Scheme != "mongodb" {
		return "", "MONGO_URI is not a mongodb:// URL"
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != svc {
		problem = fmt.Sprintf("MONGO_URI names database %q, not the service's own %q", db, svc)
	}
	return StoreOfHost(u.Hostname()), problem
}

// natsServerFlags: NATS Streaming runs with the cluster id the services
// connect with, and keeps its messages on disk across restarts.
func natsServerFlags(m *Manifests) []string {
	var problems []string
	for _, s := range m.StatefulSets {
		if st, _ := storeOf(m, s); st.kind != kindStan {
			continue
		}
		args := strings.Join(s.Spec.Template.Spec.Containers[0].Args, " ")
		if !strings.Contains(args, "-cid=ticketing") || !strings.Contains(args, "-store=file") {
			problems = append(problems, "StatefulSet/"+s.Name+": not run with cluster id ticketing and a file store")
		}
	}
	return problems
}

// appendIf appends a check's problem, if it found one.
func appendIf(found []string, problem string) []string {
	if problem == "" {
		return found
	}
	return append(found, problem)
}

func secretRef(e corev1.EnvVar) *corev1.SecretKeySelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.SecretKeyRef
}

// CheckServices: every Service selects pods, and each of its ports targets a
// port those pods' containers declare; a StatefulSet's serviceName is a
// headless Service selecting it; every workload's selector matches its own
// pods and some Service reaches it.
func CheckServices(m *Manifests) []string {
	var problems []string
	reached := map[string]bool{}
	for _, s := range m.Services {
		selected := m.Selected(s.Spec.Selector)
		if len(selected) == 0 {
			problems = append(problems, fmt.Sprintf("Service %s: selector %v matches no pods", s.Name, s.Spec.Selector))
			continue
		}
		for _, w := range selected {
			reached[w.ID()] = true
			problems = append(problems, servicePortTargets(s, w)...)
		}
	}
	for _, w := range m.Workloads() {
		if w.Selector == nil || !selects(w.Selector, w.Template.Labels) {
			problems = append(problems, w.ID()+": selector does not match its own pod template")
		}
		if !reached[w.ID()] {
			problems = append(problems, w.ID()+": no Service selects it")
		}
	}
	return append(problems, statefulSetServices(m)...)
}

// servicePortTargets: each port of Service s reaches a port that workload w,
// which s selects, declares with the same protocol.
func servicePortTargets(s *corev1.Service, w Workload) []string {
	var problems []string
	for _, p := range s.Spec.Ports {
		cp, ok := containerPort(w.Template.Spec, p.TargetPort.StrVal, p.TargetPort.IntVal)
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
			cp, ok = containerPort(w.Template.Spec, "", p.Port) // targetPort defaults to port
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("Service %s port %d: target %s is not a port %s declares", s.Name, p.Port, p.TargetPort.String(), w.ID()))
		} else if protocolOf(cp) != orTCP(p.Protocol) {
			problems = append(problems, fmt.Sprintf("Service %s port %d: protocol differs from %s's", s.Name, p.Port, w.ID()))
		}
	}
	return problems
}

// statefulSetServices: a StatefulSet's serviceName is a Service selecting its
// pods, which gives each pod the stable DNS name the StatefulSet promises.
func statefulSetServices(m *Manifests) []string {
	var problems []string
	for _, st := range m.StatefulSets {
		svc := m.Service(st.Spec.ServiceName)
		switch {
		case svc == nil:
			problems = append(problems, fmt.Sprintf("StatefulSet/%s: serviceName %q is not a Service", st.Name, st.Spec.ServiceName))
		case !selects(st.Spec.Selector, svc.Spec.Selector):
			problems = append(problems, fmt.Sprintf("StatefulSet/%s: its Service %s selects other pods", st.Name, svc.Name))
		}
	}
	return problems
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// PublicHost is the host the ingress serves users.
const PublicHost = "ticketing.dev"

// PublicRoutes are DESIGN.md §6's routes: path prefix -> Service.
var PublicRoutes = map[string]string{
	"/api/users": "auth", "/api/tickets": "tickets", "/api/orders": "orders", "/api/payments": "payments", "/": "client",
}

// CheckIngress: every path leads to a Service that exists, on a port it
// exposes; ticketing.dev serves DESIGN.md's routes over TLS with the nginx
// class; no host is served without TLS (whatever the controller serves, it
// serves on the public load balancer); the client's server-side API calls go
// to each API's Service directly.
func CheckIngress(m *Manifests) []string {
	var problems []string
	routes := map[string]string{}
	for _, ing := range m.Ingresses {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			problems = append(problems, fmt.Sprintf("Ingress %s: ingressClassName is not nginx", ing.Name))
		}
		problems = append(problems, ingressRules(m, ing, routes)...)
		problems = append(problems, httpsOnly(ing)...)
	}
	problems = append(problems, publicRoutes(routes)...)
	return append(problems, clientAPI(m)...)
}

// ingressRules checks every path of one Ingress, recording the public host's
// routes (path -> Service).
func ingressRules(m *Manifests, ing *networkingv1.Ingress, routes map[string]string) []string {
	var problems []string
	tlsHosts := map[string]string{}
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			tlsHosts[h] = t.SecretName
		}
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		if tlsHosts[r.Host] == "" {
			problems = append(problems, fmt.Sprintf("Ingress %s: %s is served without TLS, on the public load balancer", ing.Name, hostOrAny(r.Host)))
		}
		for _, p := range r.HTTP.Paths {
			where := fmt.Sprintf("Ingress %s %s%s: ", ing.Name, r.Host, p.Path)
			found, exists := pathBackend(m, p.Backend.Service)
			problems = append(problems, prefixed(where, found)...)
			if !exists || r.Host != PublicHost {
				continue
			}
			if p.PathType == nil || *p.PathType != "Prefix" {
				problems = append(problems, where+"pathType is not Prefix")
			}
			routes[p.Path] = p.Backend.Service.Name
		}
	}
	return problems
}

// ForceSSLRedirect is the annotation that makes ingress-nginx redirect plain
// HTTP to HTTPS even when a load balancer in front terminated TLS.
const ForceSSLRedirect = "nginx.ingress.kubernetes.io/force-ssl-redirect"

// httpsOnly: an Ingress that serves the public host redirects every plain
// request to HTTPS, where the controller adds Strict-Transport-Security, and
// carries no snippet, which could drop that header (and which the controller
// refuses unless an operator allowed snippets).
func httpsOnly(ing *networkingv1.Ingress) []string {
	public := false
	for _, r := range ing.Spec.Rules {
		public = public || r.Host == PublicHost
	}
	if !public {
		return nil
	}
	var problems []string
	if ing.Annotations[ForceSSLRedirect] != "true" {
		problems = append(problems, fmt.Sprintf("Ingress %s: %s is not \"true\"; plain HTTP to %s must go to HTTPS, where HSTS is sent", ing.Name, ForceSSLRedirect, PublicHost))
	}
	for name := range ing.Annotations {
		if strings.HasSuffix(name, "-snippet") {
			problems = append(problems, fmt.Sprintf("Ingress %s: annotation %s: no snippets on the public host", ing.Name, name))
		}
	}
	return problems
}

// pathBackend: a path's backend is a Service that exists (exists reports
// that) and exposes the port the path names.
func pathBackend(m *Manifests, b *networkingv1.IngressServiceBackend) (found []string, exists bool) {
	if b == nil {
		return []string{"no service backend"}, false
	}
	svc := m.Service(b.Name)
	if svc == nil {
		return []string{fmt.Sprintf("Service %s does not exist", b.Name)}, false
	}
	for _, sp := range svc.Spec.Ports {
		if (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Name == "" && sp.Port == b.Port.Number) {
			return nil, true
		}
	}
	return []string{fmt.Sprintf("Service %s exposes no port %s%d", b.Name, b.Port.Name, b.Port.Number)}, true
}

// publicRoutes: the public host routes exactly DESIGN.md's paths, each to its
// Service.
func publicRoutes(routes map[string]string) []string {
	var problems []string
	for path, svc := range PublicRoutes {
		if routes[path] != svc {
			problems = append(problems, fmt.Sprintf("%s%s does not route to %s (routes to %q)", PublicHost, path, svc, routes[path]))
		}
	}
	for path := range routes {
		if _, ok := PublicRoutes[path]; !ok {
			problems = append(problems, fmt.Sprintf("%s%s is routed but not in DESIGN.md", PublicHost, path))
		}
	}
	return problems
}

func hostOrAny(host string) string {
	if host == "" {
		return "every host"
	}
	return host
}

// clientAPI: the client's server-side rendering calls each API's Service
// directly, API_BASE_URL naming it by {service} (client/lib/config.ts), so no
// API is ever served in plain HTTP through the controller.
func clientAPI(m *Manifests) []string {
	d := m.Deployment("client")
	if d == nil {
		return nil
	}
	var base string
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "API_BASE_URL" {
			base = e.Value
		}
	}
	if !strings.Contains(base, ServiceTemplate) {
		return []string{fmt.Sprintf("client API_BASE_URL=%q does not name each API's Service by %s", base, ServiceTemplate)}
	}
	var problems []string
	for _, svc := range ClientAPIServices {
		u, err := url.Parse(strings.ReplaceAll(base, ServiceTemplate, svc))
		if err != nil {
			return []string{fmt.Sprintf("client API_BASE_URL=%q: %v", base, err)}
		}
		if u.Hostname() != svc && !strings.HasPrefix(u.Hostname(), svc+".") {
			problems = append(problems, fmt.Sprintf("client API_BASE_URL=%q: %s is not in the host", base, ServiceTemplate))
			break
		}
		to, _, problem := m.resolve(m.PodEndpoints(), u)
		if problem != "" {
			problems = append(problems, fmt.Sprintf("client API_BASE_URL for %s (%s): %s", svc, u, problem))
			continue
		}
		for _, e := range to {
			if e.Name != svc {
				problems = append(problems, fmt.Sprintf("client API_BASE_URL for %s reaches %s", svc, e.Name))
			}
		}
	}
	return problems
}

// SecretUse is one reference to a key of a secret.
type SecretUse struct {
	Where, Secret, Key string // Key "" for a whole-secret reference
	TLS                bool
	Optional           bool // the reference tolerates a missing key
}

// SecretUses lists every secret the manifests read.
func SecretUses(m *Manifests) []SecretUse {
	var out []SecretUse
	for _, w := range m.Workloads() {
		for _, c := range allContainers(w.Template.Spec) {
			for _, e := range c.Env {
				if ref := secretRef(e); ref != nil {
					optional := ref.Optional != nil && *ref.Optional
					out = append(out, SecretUse{Where: w.ID() + " env " + e.Name, Secret: ref.Name, Key: ref.Key, Optional: optional})
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					out = append(out, SecretUse{Where: w.ID() + " envFrom", Secret: ef.SecretRef.Name})
				}
			}
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.Secret != nil {
				out = append(out, SecretUse{Where: w.ID() + " volume " + v.Name, Secret: v.Secret.SecretName})
				for _, item := range v.Secret.Items {
					out = append(out, SecretUse{Where: w.ID() + " volume " + v.Name, Secret: v.Secret.SecretName, Key: item.Key})
				}
			}
		}
	}
	for _, ing := range m.Ingresses {
		for _, t := range ing.Spec.TLS {
			out = append(out, SecretUse{Where: "Ingress " + ing.Name + " tls", Secret: t.SecretName, TLS: true})
		}
	}
	return append(out, gatewaySecrets(m)...)
}

// CheckSecretsDocumented: every secret the manifests read is one the guide
// tells users to create, in the namespace the manifests use, with every key
// they read.
func CheckSecretsDocumented(m *Manifests, documented map[string]*DocumentedSecret) []string {
	return checkSecretsCreated(m, documented, "docs/kubernetes.md", false)
}

// CheckSecretsCreated: a script that sets up a cluster (created, the secrets
// its commands create) creates every secret and key the manifests need; a key
// read as optional it may leave out.
func CheckSecretsCreated(m *Manifests, created map[string]*DocumentedSecret, script string) []string {
	return checkSecretsCreated(m, created, script, true)
}

func checkSecretsCreated(m *Manifests, created map[string]*DocumentedSecret, source string, skipOptional bool) []string {
	var problems []string
	for _, u := range SecretUses(m) {
		d := created[u.Secret]
		switch {
		case skipOptional && u.Optional:
		case d == nil:
			problems = append(problems, fmt.Sprintf("%s reads secret %s, which %s never creates", u.Where, u.Secret, source))
		case u.TLS && d.Type != "tls":
			problems = append(problems, fmt.Sprintf("%s: %s creates %s as %s, not tls", u.Where, source, u.Secret, d.Type))
		case u.Key != "" && !d.Keys[u.Key]:
			problems = append(problems, fmt.Sprintf("%s reads key %s of %s, which %s does not create", u.Where, u.Key, u.Secret, source))
		case d.Namespace != m.Namespace:
			problems = append(problems, fmt.Sprintf("%s creates %s in namespace %q; the manifests run in %q", source, u.Secret, d.Namespace, m.Namespace))
		}
	}
	return problems
}

// Stateless are the component labels of the workloads that scale out.
var Stateless = []string{"api", "web", "worker"}

// CheckProduction: every stateless Deployment runs more than one replica (or
// is autoscaled from more than one), has a PodDisruptionBudget of its own that
// lets one pod go at a time, and tickets and orders scale on CPU; any other
// Deployment stays at one replica with no budget that would block node drains
// (the stores are CheckReplicatedStores's).
func CheckProduction(m *Manifests, autoscaled []string) []string {
	minReplicas, problems := autoscalers(m)
	for _, name := range autoscaled {
		if _, ok := minReplicas[name]; !ok {
			problems = append(problems, fmt.Sprintf("Deployment %s has no HorizontalPodAutoscaler", name))
		}
	}
	for _, w := range m.Workloads() {
		budgets := budgetsOf(m, w)
		if w.Kind == "Deployment" && slices.Contains(Stateless, w.Template.Labels["app.kubernetes.io/component"]) {
			problems = append(problems, scaledOut(w, budgets, minReplicas)...)
		} else if w.Kind != "StatefulSet" { // the stores: CheckReplicatedStores
			problems = append(problems, singleInstance(w, budgets)...)
		}
	}
	return problems
}

// autoscalers checks every HorizontalPodAutoscaler and returns, per Deployment
// it scales, the replicas it scales from.
func autoscalers(m *Manifests) (map[string]int32, []string) {
	var problems []string
	minReplicas := map[string]int32{}
	for _, h := range m.HPAs {
		ref := h.Spec.ScaleTargetRef
		d := m.Deployment(ref.Name)
		if ref.Kind != "Deployment" || d == nil {
			problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s targets %s %s, which does not exist", h.Name, ref.Kind, ref.Name))
			continue
		}
		min := int32(1)
		if h.Spec.MinReplicas != nil {
			min = *h.Spec.MinReplicas
		}
		if h.Spec.MaxReplicas < min {
			problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s: maxReplicas below minReplicas", h.Name))
		}
		problems = append(problems, cpuRequests(h, d)...)
		minReplicas[d.Name] = min
	}
	return minReplicas, problems
}

// cpuRequests: an autoscaler that scales on CPU measures usage against the
// containers' CPU requests, so every container must have one.
func cpuRequests(h *autoscalingv2.HorizontalPodAutoscaler, d *appsv1.Deployment) []string {
	cpuMetric := false
	for _, mt := range h.Spec.Metrics {
		cpuMetric = cpuMetric || (mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU)
	}
	if !cpuMetric {
		return nil
	}
	var problems []string
	for _, c := range d.Spec.Template.Spec.Containers {
		if q := c.Resources.Requests[corev1.ResourceCPU]; q.IsZero() {
			problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s scales on CPU but %s has no CPU request", h.Name, c.Name))
		}
	}
	return problems
}

// budgetsOf lists the PodDisruptionBudgets that select a workload's pods.
func budgetsOf(m *Manifests, w Workload) []*policyv1.PodDisruptionBudget {
	var budgets []*policyv1.PodDisruptionBudget
	for _, pdb := range m.PDBs {
		if pdb.Spec.Selector != nil && selects(pdb.Spec.Selector, w.Template.Labels) {
			budgets = append(budgets, pdb)
		}
	}
	return budgets
}

// scaledOut: a stateless Deployment survives losing a pod — at least two
// replicas, owned either by itself or by an autoscaler, never both — and its
// one budget lets a node drain evict a pod.
func scaledOut(w Workload, budgets []*policyv1.PodDisruptionBudget, minReplicas map[string]int32) []string {
	var problems []string
	min, scaled := minReplicas[w.Name]
	replicas := int32(1)
	if w.Replicas != nil {
		replicas = *w.Replicas
	} else if scaled {
		replicas = min
	}
	for _, pdb := range budgets {
		if !allowsOneEviction(pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable, replicas) {
			problems = append(problems, fmt.Sprintf("PodDisruptionBudget %s never lets a pod of %s go", pdb.Name, w.ID()))
		}
	}
	if len(budgets) != 1 {
		problems = append(problems, fmt.Sprintf("%s has %d disruption budgets, want 1", w.ID(), len(budgets)))
	}
	switch {
	case scaled && w.Replicas != nil:
		problems = append(problems, fmt.Sprintf("%s sets replicas although an autoscaler owns them (each apply would reset the count)", w.ID()))
	case scaled && min < 2:
		problems = append(problems, fmt.Sprintf("%s autoscales from %d replica", w.ID(), min))
	case !scaled && (w.Replicas == nil || *w.Replicas < 2):
		problems = append(problems, fmt.Sprintf("%s runs fewer than 2 replicas", w.ID()))
	}
	return problems
}

// singleInstance: a stateful store runs exactly one replica, and a
// StatefulSet has no disruption budget, which with one replica could only
// ever forbid the eviction a node drain needs.
func singleInstance(w Workload, budgets []*policyv1.PodDisruptionBudget) []string {
	var problems []string
	if w.Replicas == nil || *w.Replicas != 1 {
		problems = append(problems, fmt.Sprintf("%s is a single-instance store and must run exactly one replica", w.ID()))
	}
	if len(budgets) > 0 && w.Kind == "StatefulSet" {
		names := make([]string, len(budgets))
		for i, b := range budgets {
			names[i] = b.Name
		}
		problems = append(problems, fmt.Sprintf("%s: disruption budgets %v would block node drains", w.ID(), names))
	}
	return problems
}

func allowsOneEviction(maxUnavailable, minAvailable *intstr.IntOrString, replicas int32) bool {
	switch {
	case maxUnavailable != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(replicas), false)
		return err == nil && v >= 1
	case minAvailable != nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, int(replicas), true)
		return err == nil && int32(v) < replicas
	}
	return false
}
