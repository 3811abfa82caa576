package validate

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Endpoint is something that opens or accepts connections: a pod of ours, a
// pod in another namespace, or an address outside the cluster.
type Endpoint struct {
	Name      string
	Namespace string // "" outside the cluster
	NSLabels  map[string]string
	Labels    map[string]string
	Ports     []corev1.ContainerPort
	IP        netip.Addr // outside the cluster only
}

// The endpoints outside our namespace that the architecture talks to, as they
// look in a cluster: ingress-nginx's controller pod (labels as its install
// manifests and the minikube addon set them), cluster DNS, and addresses
// beyond the pod network.
var (
	IngressController = Endpoint{
		Name: "ingress-nginx controller", Namespace: "ingress-nginx",
		NSLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
		Labels: map[string]string{
			"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
			"app.kubernetes.io/component": "controller",
		},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {Name: "https", ContainerPort: 443, Protocol: corev1.ProtocolTCP}},
	}
	ClusterDNS = Endpoint{
		Name: "cluster DNS", Namespace: "kube-system",
		NSLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"},
		Labels:   map[string]string{"k8s-app": "kube-dns"},
		Ports:    []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}},
	}
	Internet = Endpoint{
		Name: "the internet (e.g. Stripe)", IP: netip.MustParseAddr("203.0.113.7"),
		Ports: []corev1.ContainerPort{{ContainerPort: 443, Protocol: corev1.ProtocolTCP}, {ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
	}
	CloudMetadata = Endpoint{
		Name: "the cloud metadata server", IP: netip.MustParseAddr("169.254.169.254"),
		Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 443, Protocol: corev1.ProtocolTCP}},
	}
	PrivateAddress = Endpoint{
		Name: "a private address (a node, a VM)", IP: netip.MustParseAddr("10.128.0.5"),
		Ports: []corev1.ContainerPort{{ContainerPort: 443, Protocol: corev1.ProtocolTCP}, {ContainerPort: 22, Protocol: corev1.ProtocolTCP}},
	}
	// ControllerService is how pods address the controller.
	ControllerService = "ingress-nginx-controller.ingress-nginx.svc.cluster.local"
)

// Flow is one connection: from an endpoint to a port of another.
type Flow struct {
	From, To *Endpoint
	Port     int32
	Protocol corev1.Protocol
}

func (f Flow) String() string {
	return fmt.Sprintf("%s -> %s %s/%d", f.From.Name, f.To.Name, f.Protocol, f.Port)
}

// Policies evaluates NetworkPolicies the way a network plugin enforces them.
type Policies struct {
	Namespace string
	List      []*networkingv1.NetworkPolicy
}

// Allows reports whether the policies let flow through: the source's egress
// and the destination's ingress must both admit it. Policies are known for
// our namespace only; elsewhere (ingress-nginx, kube-system, outside) nothing
// is assumed to block.
func (p Policies) Allows(f Flow) bool {
	return p.side(f.From, f, networkingv1.PolicyTypeEgress) && p.side(f.To, f, networkingv1.PolicyTypeIngress)
}

func (p Policies) side(pod *Endpoint, f Flow, dir networkingv1.PolicyType) bool {
	if pod.Namespace != p.Namespace || pod.Namespace == "" {
		return true
	}
	isolated := false
	for _, np := range p.List {
		if !selects(&np.Spec.PodSelector, pod.Labels) || !hasType(np, dir) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeEgress {
			for _, r := range np.Spec.Egress {
				if p.peersMatch(r.To, f.To) && portsMatch(r.Ports, f) {
					return true
				}
			}
		} else {
			for _, r := range np.Spec.Ingress {
				if p.peersMatch(r.From, f.From) && portsMatch(r.Ports, f) {
					return true
				}
			}
		}
	}
	return !isolated
}

// hasType applies the API's default: Ingress always, Egress when the policy
// has egress rules, unless policyTypes says otherwise.
func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) > 0 {
		return slices.Contains(np.Spec.PolicyTypes, t)
	}
	return t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// peersMatch: an empty peer list admits everyone; otherwise some peer must
// admit the endpoint, by address block or by namespace and pod selectors.
func (p Policies) peersMatch(peers []networkingv1.NetworkPolicyPeer, e *Endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			if ipBlockAdmits(peer.IPBlock, e) {
				return true
			}
			continue
		}
		if p.selectorsAdmit(peer, e) {
			return true
		}
	}
	return false
}

// ipBlockAdmits: the endpoint has an address inside the block's CIDR and
// outside all of its exceptions.
func ipBlockAdmits(block *networkingv1.IPBlock, e *Endpoint) bool {
	if !e.IP.IsValid() {
		return false
	}
	prefix, err := netip.ParsePrefix(block.CIDR)
	if err != nil || !prefix.Contains(e.IP) {
		return false
	}
	for _, ex := range block.Except {
		if exp, err := netip.ParsePrefix(ex); err == nil && exp.Contains(e.IP) {
			return false
		}
	}
	return true
}

// selectorsAdmit: the endpoint is a pod in a namespace the peer selects (the
// policy's own when it names none) and matches its pod selector, if any.
func (p Policies) selectorsAdmit(peer networkingv1.NetworkPolicyPeer, e *Endpoint) bool {
	if e.Namespace == "" {
		return false // selectors match pods only
	}
	if peer.NamespaceSelector == nil {
		if e.Namespace != p.Namespace {
			return false
		}
	} else if !selects(peer.NamespaceSelector, e.NSLabels) {
		return false
	}
	return peer.PodSelector == nil || selects(peer.PodSelector, e.Labels)
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, f Flow) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		proto := corev1.ProtocolTCP
		if pp.Protocol != nil {
			proto = *pp.Protocol
		}
		if proto != f.Protocol {
			continue
		}
		if pp.Port == nil {
			return true
		}
		if pp.Port.StrVal != "" {
			// A named port means the destination pod's port of that name.
			for _, cp := range f.To.Ports {
				if cp.Name == pp.Port.StrVal && protocolOf(cp) == f.Protocol && cp.ContainerPort == f.Port {
					return true
				}
			}
			continue
		}
		lo, hi := pp.Port.IntVal, pp.Port.IntVal
		if pp.EndPort != nil {
			hi = *pp.EndPort
		}
		if f.Port >= lo && f.Port <= hi {
			return true
		}
	}
	return false
}

func protocolOf(p corev1.ContainerPort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

// PodEndpoints turns every workload into the endpoint its pods are.
func (m *Manifests) PodEndpoints() map[string]*Endpoint {
	out := map[string]*Endpoint{}
	for _, w := range m.Workloads() {
		e := &Endpoint{
			Name: w.Name, Namespace: m.Namespace,
			NSLabels: map[string]string{"kubernetes.io/metadata.name": m.Namespace},
			Labels:   w.Template.Labels,
		}
		for _, c := range w.Template.Spec.Containers {
			e.Ports = append(e.Ports, c.Ports...)
		}
		out[w.Name] = e
	}
	return out
}

// NeededFlows derives, from the manifests alone, every connection the
// architecture makes: each URL a container is configured with (its database,
// NATS, Redis, the ingress controller for server-side rendering, stripe-mock),
// Stripe on the internet for a container holding STRIPE_KEY without
// STRIPE_API_BASE, the ingress controller to every Ingress backend, and DNS
// for every pod, Prometheus to every target it scrapes (observability.go), and
// the members of a replicated store to each other (replicated.go).
// Problems are URLs and scrape targets that lead nowhere.
func (m *Manifests) NeededFlows(pods map[string]*Endpoint) ([]Flow, []string) {
	var flows []Flow
	var problems []string
	for _, w := range m.Workloads() {
		src := pods[w.Name]
		flows = append(flows,
			Flow{src, &ClusterDNS, 53, corev1.ProtocolUDP},
			Flow{src, &ClusterDNS, 53, corev1.ProtocolTCP})
		for _, c := range w.Template.Spec.Containers {
			f, p := m.configuredFlows(pods, w, c)
			flows, problems = append(flows, f...), append(problems, p...)
		}
	}
	flows = append(flows, m.memberFlows(pods)...)
	flows = append(flows, m.gatewayFlows(pods)...)
	scrapes, p := m.scrapeFlows(pods)
	flows, problems = append(flows, scrapes...), append(problems, p...)
	return append(flows, m.ingressFlows(pods)...), problems
}

// configuredFlows are the connections one container is configured to make:
// to every URL in its environment, and to Stripe when it holds a key but no
// stand-in's address.
func (m *Manifests) configuredFlows(pods map[string]*Endpoint, w Workload, c corev1.Container) ([]Flow, []string) {
	var flows []Flow
	var problems []string
	src := pods[w.Name]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			env[e.Name] = "(from " + e.Name + ")"
		}
	}
	if _, ok := env["STRIPE_KEY"]; ok && env["STRIPE_API_BASE"] == "" {
		flows = append(flows, Flow{src, &Internet, 443, corev1.ProtocolTCP})
	}
	for _, name := range keys(env) {
		if notConnectedTo[name] {
			continue
		}
		if hostPortVars[name] {
			f, p := m.urlFlows(pods, src, hostPortURLs(name, env[name]))
			flows = append(flows, f...)
			problems = append(problems, prefixed(fmt.Sprintf("%s %s=%s: ", w.ID(), name, env[name]), p)...)
			continue
		}
		for _, value := range expandServices(env[name]) {
			urls, err := ParseURLList(value)
			if err != nil {
				continue
			}
			f, p := m.urlFlows(pods, src, urls)
			flows = append(flows, f...)
			problems = append(problems, prefixed(fmt.Sprintf("%s %s=%s: ", w.ID(), name, value), p)...)
		}
	}
	return flows, problems
}

// ServiceTemplate in a URL stands for each of ClientAPIServices: the client
// reaches each API's Service by its name (client/lib/config.ts).
const ServiceTemplate = "{service}"

// ClientAPIServices are the Services behind the client's API_SERVICES, in
// client/lib/config.ts (a test compares the two).
var ClientAPIServices = []string{"auth", "tickets", "orders", "payments"}

// expandServices is the URLs a configured value stands for: itself, or one
// per API Service when it holds ServiceTemplate.
func expandServices(value string) []string {
	if !strings.Contains(value, ServiceTemplate) {
		return []string{value}
	}
	out := make([]string, 0, len(ClientAPIServices))
	for _, svc := range ClientAPIServices {
		out = append(out, strings.ReplaceAll(value, ServiceTemplate, svc))
	}
	return out
}

// ingressFlows are the ingress controller's connections to the pods behind
// every Ingress backend, on the container port each backend's Service port
// targets.
func (m *Manifests) ingressFlows(pods map[string]*Endpoint) []Flow {
	var flows []Flow
	for _, ing := range m.Ingresses {
		for _, b := range ingressBackends(ing) {
			svc := m.Service(b.Service.Name)
			if svc == nil {
				continue // CheckIngress reports it
			}
			for _, sp := range svc.Spec.Ports {
				if (b.Service.Port.Name != "" && sp.Name != b.Service.Port.Name) || (b.Service.Port.Name == "" && sp.Port != b.Service.Port.Number) {
					continue
				}
				for _, w := range m.Selected(svc.Spec.Selector) {
					if cp, ok := containerPort(w.Template.Spec, sp.TargetPort.StrVal, sp.TargetPort.IntVal); ok {
						flows = append(flows, Flow{&IngressController, pods[w.Name], cp.ContainerPort, protocolOf(cp)})
					}
				}
			}
		}
	}
	return flows
}

// notConnectedTo are variables whose URLs a service compares requests with
// and never connects to.
var notConnectedTo = map[string]bool{"PUBLIC_ORIGINS": true}

var defaultPorts = map[string]int32{"http": 80, "https": 443, "mongodb": 27017, "nats": 4222, "redis": 6379}

// resolve finds the pods and port a URL reaches: a Service of ours (by its
// short or fully qualified name) or the ingress controller.
func (m *Manifests) resolve(pods map[string]*Endpoint, u *url.URL) ([]*Endpoint, int32, string) {
	port := defaultPorts[u.Scheme]
	if p := u.Port(); p != "" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, 0, "bad port"
		}
		port = int32(n)
	}
	host := u.Hostname()
	if host == ControllerService {
		for _, cp := range IngressController.Ports {
			if cp.ContainerPort == port {
				return []*Endpoint{&IngressController}, port, ""
			}
		}
		return nil, 0, "the ingress controller does not listen there"
	}
	name, rest, _ := strings.Cut(host, ".")
	if rest != "" && rest != m.Namespace && !strings.HasPrefix(rest, m.Namespace+".svc") {
		return nil, 0, "host outside the cluster or namespace"
	}
	svc := m.Service(name)
	if svc == nil {
		return nil, 0, fmt.Sprintf("no Service %q", name)
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Port != port {
			continue
		}
		var out []*Endpoint
		var target int32
		for _, w := range m.Selected(svc.Spec.Selector) {
			cp, ok := containerPort(w.Template.Spec, sp.TargetPort.StrVal, sp.TargetPort.IntVal)
			if !ok {
				continue
			}
			out = append(out, pods[w.Name])
			target = cp.ContainerPort
		}
		if len(out) == 0 {
			return nil, 0, fmt.Sprintf("Service %q port %d selects no pod port", name, port)
		}
		return out, target, ""
	}
	return nil, 0, fmt.Sprintf("Service %q has no port %d", name, port)
}

func ingressBackends(ing *networkingv1.Ingress) []networkingv1.IngressBackend {
	var out []networkingv1.IngressBackend
	if ing.Spec.DefaultBackend != nil {
		out = append(out, *ing.Spec.DefaultBackend)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			out = append(out, p.Backend)
		}
	}
	return out
}

// CheckNetwork proves the NetworkPolicies allow exactly what the architecture
// needs: every needed flow is allowed, and every other flow between the pods,
// the ingress controller, DNS and addresses outside the cluster, on every port
// the destination listens on, is denied.
func CheckNetwork(m *Manifests) []string {
	pods := m.PodEndpoints()
	needed, problems := m.NeededFlows(pods)
	pol := Policies{Namespace: m.Namespace, List: m.NetworkPolicies}
	want := map[string]bool{}
	for _, f := range needed {
		want[f.String()] = true
		if !pol.Allows(f) {
			problems = append(problems, "needed but denied: "+f.String())
		}
	}
	problems = append(problems, unneededFlows(m.Namespace, pods, pol, want)...)
	return append(problems, idlePolicies(m.NetworkPolicies, pods)...)
}

// unneededFlows tries every flow between the pods, the ingress controller,
// DNS and outside addresses, on every port the destination listens on, and
// reports each the policies allow although no one needs it.
func unneededFlows(namespace string, pods map[string]*Endpoint, pol Policies, want map[string]bool) []string {
	var problems []string
	sources := []*Endpoint{&IngressController, &GatewayProxy, &Internet, &PrivateAddress}
	destinations := []*Endpoint{&IngressController, &ClusterDNS, &Internet, &CloudMetadata, &PrivateAddress}
	for _, name := range keys(pods) {
		sources = append(sources, pods[name])
		destinations = append(destinations, pods[name])
	}
	for _, from := range sources {
		for _, to := range destinations {
			// Only flows touching our namespace are ours to decide.
			if from == to || (from.Namespace != namespace && to.Namespace != namespace) {
				continue
			}
			for _, cp := range to.Ports {
				f := Flow{from, to, cp.ContainerPort, protocolOf(cp)}
				if pol.Allows(f) && !want[f.String()] {
					problems = append(problems, "allowed but not needed: "+f.String())
				}
			}
		}
	}
	return problems
}

// idlePolicies reports a pod-scoped policy that selects no pod: it protects
// nothing, usually because its labels drifted from the workload's.
func idlePolicies(policies []*networkingv1.NetworkPolicy, pods map[string]*Endpoint) []string {
	var problems []string
	for _, np := range policies {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 {
			continue // namespace-wide
		}
		hit := false
		for _, e := range pods {
			hit = hit || selects(&np.Spec.PodSelector, e.Labels)
		}
		if !hit {
			problems = append(problems, fmt.Sprintf("NetworkPolicy %s selects no pod", np.Name))
		}
	}
	return problems
}

// CheckControllerNamedOnce: the ingress controller is named — its namespace
// selected by a policy peer, or its Service in a container's environment — by
// exactly one NetworkPolicy and nothing else, so a cluster with another
// controller (or the Gateway API's) changes one place.
func CheckControllerNamedOnce(m *Manifests) []string {
	var naming []string
	for _, np := range m.NetworkPolicies {
		if namesController(np) {
			naming = append(naming, np.Name)
		}
	}
	var problems []string
	if len(naming) != 1 {
		problems = append(problems, fmt.Sprintf("the ingress controller's namespace is selected by %d NetworkPolicies %v, not one", len(naming), naming))
	}
	for _, w := range m.Workloads() {
		for _, c := range allContainers(w.Template.Spec) {
			for _, e := range c.Env {
				if strings.Contains(e.Value, ControllerService) {
					problems = append(problems, fmt.Sprintf("%s/%s %s names the ingress controller's Service", w.ID(), c.Name, e.Name))
				}
			}
		}
	}
	return problems
}

func namesController(np *networkingv1.NetworkPolicy) bool {
	var peers []networkingv1.NetworkPolicyPeer
	for _, r := range np.Spec.Ingress {
		peers = append(peers, r.From...)
	}
	for _, r := range np.Spec.Egress {
		peers = append(peers, r.To...)
	}
	for _, p := range peers {
		if p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchLabels)+len(p.NamespaceSelector.MatchExpressions) > 0 &&
			selects(p.NamespaceSelector, IngressController.NSLabels) {
			return true
		}
	}
	return false
}
