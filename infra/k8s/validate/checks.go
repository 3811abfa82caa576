package validate

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	var problems []string
	accounts := map[string]bool{}
	for _, sa := range m.ServiceAccounts {
		accounts[sa.Name] = true
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			problems = append(problems, fmt.Sprintf("ServiceAccount %s: automountServiceAccountToken is not false", sa.Name))
		}
	}
	for _, w := range m.Workloads() {
		bad := func(format string, args ...any) {
			problems = append(problems, w.ID()+": "+fmt.Sprintf(format, args...))
		}
		pod := w.Template.Spec
		if pod.ServiceAccountName == "" || pod.ServiceAccountName == "default" || !accounts[pod.ServiceAccountName] {
			bad("serviceAccountName %q is not a ServiceAccount of its own in the manifests", pod.ServiceAccountName)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			bad("automountServiceAccountToken is not false")
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			bad("shares a host namespace")
		}
		psc := pod.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			bad("pod securityContext.runAsNonRoot is not true")
		}
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			// runAsNonRoot alone fails at start for an image whose USER is a name.
			bad("pod securityContext.runAsUser is not a non-zero uid")
		}
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			bad("pod securityContext.seccompProfile is not RuntimeDefault")
		}
		for _, c := range allContainers(pod) {
			id := w.ID() + "/" + c.Name
			sc := c.SecurityContext
			if sc == nil {
				bad("container %s has no securityContext", c.Name)
				continue
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				bad("container %s: allowPrivilegeEscalation is not false", c.Name)
			}
			if sc.Privileged != nil && *sc.Privileged {
				bad("container %s is privileged", c.Name)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				bad("container %s runs as uid 0", c.Name)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				bad("container %s does not drop ALL capabilities", c.Name)
			} else if len(sc.Capabilities.Add) > 0 {
				bad("container %s adds capabilities %v", c.Name, sc.Capabilities.Add)
			}
			readOnly := sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
			if _, exempt := writable[id]; !readOnly && !exempt {
				bad("container %s: readOnlyRootFilesystem is not true", c.Name)
			}
		}
	}
	return problems
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
			bad := func(format string, args ...any) {
				problems = append(problems, fmt.Sprintf("%s/%s: ", w.ID(), c.Name)+fmt.Sprintf(format, args...))
			}
			probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
			for _, kind := range []string{"readiness", "liveness", "startup"} {
				p := probes[kind]
				if p == nil {
					if kind != "startup" {
						bad("no %s probe", kind)
					}
					continue
				}
				var port *intstr.IntOrString
				switch {
				case p.HTTPGet != nil:
					port = &p.HTTPGet.Port
				case p.TCPSocket != nil:
					port = &p.TCPSocket.Port
				case p.GRPC != nil:
					port = &intstr.IntOrString{IntVal: p.GRPC.Port}
				case p.Exec != nil:
					if len(p.Exec.Command) == 0 {
						bad("%s probe runs no command", kind)
					}
				default:
					bad("%s probe has no handler", kind)
				}
				if port != nil && !declares(c, *port) {
					bad("%s probe aims at port %s, which the container does not declare", kind, port.String())
				}
			}
			if a := cfg.Artifact(c.Image); a != nil && a.Service() != "" {
				if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
					bad("readiness probe is not GET /readyz")
				}
				if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
					bad("liveness probe is not GET /healthz")
				}
			}
		}
	}
	return problems
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
	mongoUsers := map[string][]string{}
	for _, w := range m.Workloads() {
		svc := ServiceOf(w, cfg)
		if svc == "" {
			continue
		}
		c := w.Template.Spec.Containers[0]
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s/%s: ", w.ID(), c.Name)+fmt.Sprintf(format, args...))
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				bad("%s is set twice", e.Name)
			}
			env[e.Name] = e
		}
		for _, name := range required[svc] {
			e, ok := env[name]
			if !ok || (e.Value == "" && e.ValueFrom == nil) {
				bad("required %s is not set", name)
			}
		}
		for name, e := range env {
			switch name {
			case "NATS_CLIENT_ID":
				if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
					bad("NATS_CLIENT_ID is not the pod's name (fieldRef metadata.name)")
				}
			case "JWT_KEY", "STRIPE_KEY":
				want := map[string]string{"JWT_KEY": "jwt-secret", "STRIPE_KEY": "stripe-secret"}[name]
				ref := secretRef(e)
				if ref == nil || ref.Name != want || ref.Key != name || (ref.Optional != nil && *ref.Optional) {
					bad("%s does not come from secret %s key %s", name, want, name)
				}
			case "NATS_CLUSTER_ID":
				if e.Value != "ticketing" {
					bad("NATS_CLUSTER_ID is %q, not the cluster id NATS Streaming runs with", e.Value)
				}
			case "COOKIE_SECURE", "TRUST_PROXY":
				if e.Value != "true" {
					bad("%s is %q; behind the TLS ingress it must be true", name, e.Value)
				}
			case "ORDER_EXPIRATION_WINDOW":
				if d, err := time.ParseDuration(e.Value); err != nil || d <= 0 {
					bad("ORDER_EXPIRATION_WINDOW=%q is not a positive Go duration", e.Value)
				}
			case "PORT":
				if p, ok := containerPort(w.Template.Spec, "http", 0); !ok || fmt.Sprint(p.ContainerPort) != e.Value {
					bad("PORT=%s is not the container's http port", e.Value)
				}
			case "MONGO_URI":
				u, err := url.Parse(e.Value)
				if err != nil || u.Scheme != "mongodb" {
					bad("MONGO_URI is not a mongodb:// URL")
					continue
				}
				if db := strings.TrimPrefix(u.Path, "/"); db != svc {
					bad("MONGO_URI names database %q, not the service's own %q", db, svc)
				}
				mongoUsers[u.Hostname()] = append(mongoUsers[u.Hostname()], svc)
			}
		}
	}
	for host, users := range mongoUsers {
		if len(users) > 1 {
			problems = append(problems, fmt.Sprintf("MongoDB %s is shared by %v; each service owns its database", host, users))
		}
	}
	for _, s := range m.StatefulSets {
		if s.Name != "nats" {
			continue
		}
		args := strings.Join(s.Spec.Template.Spec.Containers[0].Args, " ")
		if !strings.Contains(args, "-cid=ticketing") || !strings.Contains(args, "-store=file") {
			problems = append(problems, "StatefulSet/nats: not run with cluster id ticketing and a file store")
		}
	}
	return problems
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
// class; the client's server-side API calls name a host the ingress serves
// without TLS (so the controller answers them instead of redirecting).
func CheckIngress(m *Manifests) []string {
	var problems []string
	routes := map[string]string{}
	plainHosts := map[string]bool{}
	for _, ing := range m.Ingresses {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			problems = append(problems, fmt.Sprintf("Ingress %s: ingressClassName is not nginx", ing.Name))
		}
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
			if _, ok := tlsHosts[r.Host]; !ok {
				plainHosts[r.Host] = true
			}
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				if b == nil {
					problems = append(problems, fmt.Sprintf("Ingress %s %s%s: no service backend", ing.Name, r.Host, p.Path))
					continue
				}
				svc := m.Service(b.Name)
				if svc == nil {
					problems = append(problems, fmt.Sprintf("Ingress %s %s%s: Service %s does not exist", ing.Name, r.Host, p.Path, b.Name))
					continue
				}
				exposed := false
				for _, sp := range svc.Spec.Ports {
					exposed = exposed || (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Name == "" && sp.Port == b.Port.Number)
				}
				if !exposed {
					problems = append(problems, fmt.Sprintf("Ingress %s %s%s: Service %s exposes no port %s%d", ing.Name, r.Host, p.Path, b.Name, b.Port.Name, b.Port.Number))
				}
				if r.Host == PublicHost {
					if p.PathType == nil || *p.PathType != "Prefix" {
						problems = append(problems, fmt.Sprintf("Ingress %s %s%s: pathType is not Prefix", ing.Name, r.Host, p.Path))
					}
					if _, ok := tlsHosts[r.Host]; !ok || tlsHosts[r.Host] == "" {
						problems = append(problems, fmt.Sprintf("Ingress %s: %s is served without TLS", ing.Name, r.Host))
					}
					routes[p.Path] = b.Name
				}
			}
		}
	}
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
	if d := m.Deployment("client"); d != nil {
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if env["API_BASE_URL"] != "http://"+ControllerService {
			problems = append(problems, fmt.Sprintf("client API_BASE_URL=%q is not the ingress controller's Service over HTTP", env["API_BASE_URL"]))
		}
		if !plainHosts[env["API_HOST_HEADER"]] {
			problems = append(problems, fmt.Sprintf("client API_HOST_HEADER=%q is not a host the ingress serves without TLS; ingress-nginx would redirect its calls to HTTPS", env["API_HOST_HEADER"]))
		}
	}
	return problems
}

// SecretUse is one reference to a key of a secret.
type SecretUse struct {
	Where, Secret, Key string // Key "" for a whole-secret reference
	TLS                bool
}

// SecretUses lists every secret the manifests read.
func SecretUses(m *Manifests) []SecretUse {
	var out []SecretUse
	for _, w := range m.Workloads() {
		for _, c := range allContainers(w.Template.Spec) {
			for _, e := range c.Env {
				if ref := secretRef(e); ref != nil {
					out = append(out, SecretUse{Where: w.ID() + " env " + e.Name, Secret: ref.Name, Key: ref.Key})
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
			}
		}
	}
	for _, ing := range m.Ingresses {
		for _, t := range ing.Spec.TLS {
			out = append(out, SecretUse{Where: "Ingress " + ing.Name + " tls", Secret: t.SecretName, TLS: true})
		}
	}
	return out
}

// CheckSecretsDocumented: every secret the manifests read is one the guide
// tells users to create, in the namespace the manifests use, with every key
// they read.
func CheckSecretsDocumented(m *Manifests, documented map[string]*DocumentedSecret) []string {
	var problems []string
	for _, u := range SecretUses(m) {
		d := documented[u.Secret]
		switch {
		case d == nil:
			problems = append(problems, fmt.Sprintf("%s reads secret %s, which docs/kubernetes.md never creates", u.Where, u.Secret))
		case u.TLS && d.Type != "tls":
			problems = append(problems, fmt.Sprintf("%s: docs create %s as %s, not tls", u.Where, u.Secret, d.Type))
		case u.Key != "" && !d.Keys[u.Key]:
			problems = append(problems, fmt.Sprintf("%s reads key %s of %s, which docs/kubernetes.md does not create", u.Where, u.Key, u.Secret))
		case d.Namespace != m.Namespace:
			problems = append(problems, fmt.Sprintf("docs create %s in namespace %q; the manifests run in %q", u.Secret, d.Namespace, m.Namespace))
		}
	}
	return problems
}

// Stateless are the component labels of the workloads that scale out.
var Stateless = []string{"api", "web", "worker"}

// CheckProduction: every stateless Deployment runs more than one replica (or
// is autoscaled from more than one), has a PodDisruptionBudget of its own that
// lets one pod go at a time, and tickets and orders scale on CPU; the stateful
// single instances stay at one replica with no budget that would block node
// drains.
func CheckProduction(m *Manifests, autoscaled []string) []string {
	var problems []string
	hpaFor := map[string]int32{}
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
		cpuMetric := false
		for _, mt := range h.Spec.Metrics {
			cpuMetric = cpuMetric || (mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU)
		}
		if cpuMetric {
			for _, c := range d.Spec.Template.Spec.Containers {
				if q := c.Resources.Requests[corev1.ResourceCPU]; q.IsZero() {
					problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s scales on CPU but %s has no CPU request", h.Name, c.Name))
				}
			}
		}
		hpaFor[d.Name] = min
	}
	for _, name := range autoscaled {
		if _, ok := hpaFor[name]; !ok {
			problems = append(problems, fmt.Sprintf("Deployment %s has no HorizontalPodAutoscaler", name))
		}
	}
	for _, w := range m.Workloads() {
		stateless := w.Kind == "Deployment" && slices.Contains(Stateless, w.Template.Labels["app.kubernetes.io/component"])
		var budgets []string
		for _, pdb := range m.PDBs {
			if pdb.Spec.Selector != nil && selects(pdb.Spec.Selector, w.Template.Labels) {
				budgets = append(budgets, pdb.Name)
				if !stateless {
					continue
				}
				replicas := int32(1)
				if w.Replicas != nil {
					replicas = *w.Replicas
				} else if min, ok := hpaFor[w.Name]; ok {
					replicas = min
				}
				if !allowsOneEviction(pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable, replicas) {
					problems = append(problems, fmt.Sprintf("PodDisruptionBudget %s never lets a pod of %s go", pdb.Name, w.ID()))
				}
			}
		}
		if !stateless {
			if w.Replicas == nil || *w.Replicas != 1 {
				problems = append(problems, fmt.Sprintf("%s is a single-instance store and must run exactly one replica", w.ID()))
			}
			if len(budgets) > 0 && w.Kind == "StatefulSet" {
				problems = append(problems, fmt.Sprintf("%s: disruption budgets %v would block node drains", w.ID(), budgets))
			}
			continue
		}
		if len(budgets) != 1 {
			problems = append(problems, fmt.Sprintf("%s has %d disruption budgets, want 1", w.ID(), len(budgets)))
		}
		min, scaled := hpaFor[w.Name]
		switch {
		case scaled && w.Replicas != nil:
			problems = append(problems, fmt.Sprintf("%s sets replicas although an autoscaler owns them (each apply would reset the count)", w.ID()))
		case scaled && min < 2:
			problems = append(problems, fmt.Sprintf("%s autoscales from %d replica", w.ID(), min))
		case !scaled && (w.Replicas == nil || *w.Replicas < 2):
			problems = append(problems, fmt.Sprintf("%s runs fewer than 2 replicas", w.ID()))
		}
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
