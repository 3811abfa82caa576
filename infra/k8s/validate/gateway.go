package validate

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The Gateway API beside the Ingress (components/gateway-api): its routes
// must send every request where the Ingress sends it.

// GatewayProxy is a Gateway's proxy pod as a conformant controller runs it:
// labelled with the Gateway's name (here in Envoy Gateway's namespace; NGINX
// Gateway Fabric runs it in the Gateway's own).
var GatewayProxy = Endpoint{
	Name: "the Gateway's proxy", Namespace: "envoy-gateway-system",
	NSLabels: map[string]string{"kubernetes.io/metadata.name": "envoy-gateway-system"},
	Labels:   map[string]string{"gateway.networking.k8s.io/gateway-name": "ticketing", "app.kubernetes.io/name": "envoy"},
	Ports:    []corev1.ContainerPort{{Name: "http", ContainerPort: 10080, Protocol: corev1.ProtocolTCP}, {Name: "https", ContainerPort: 10443, Protocol: corev1.ProtocolTCP}},
}

// HSTS is the header ingress-nginx adds to every HTTPS answer (its hsts
// settings, docs/kubernetes.md step 2), which a route must set itself.
const HSTS = "Strict-Transport-Security"

// routeKey is one (host, path prefix) a request may match.
type routeKey struct{ Host, Path string }

func (k routeKey) String() string { return k.Host + k.Path }

// routeTarget is where it goes: a Service's port, by number.
type routeTarget struct {
	Service string
	Port    int32
}

func (t routeTarget) String() string { return fmt.Sprintf("%s:%d", t.Service, t.Port) }

// routeTable is what one side routes: where each (host, path) goes, and the
// secret holding each HTTPS host's certificate.
type routeTable struct {
	routes map[routeKey]routeTarget
	tls    map[string]string
}

// ingressTable reads every Ingress path, its Service port resolved to a
// number as a Gateway's backendRef names it.
func ingressTable(m *Manifests) routeTable {
	t := routeTable{routes: map[routeKey]routeTarget{}, tls: map[string]string{}}
	for _, ing := range m.Ingresses {
		for _, tls := range ing.Spec.TLS {
			for _, h := range tls.Hosts {
				t.tls[h] = tls.SecretName
			}
		}
	}
	for _, p := range m.IngressPaths() {
		if b := p.Backend.Service; b != nil {
			t.routes[routeKey{p.Host, p.Path}] = routeTarget{b.Name, servicePortNumber(m, b.Name, b.Port.Name, b.Port.Number)}
		}
	}
	return t
}

func servicePortNumber(m *Manifests, service, name string, number int32) int32 {
	if s := m.Service(service); s != nil && name != "" {
		for _, sp := range s.Spec.Ports {
			if sp.Name == name {
				return sp.Port
			}
		}
	}
	return number
}

// gatewayTable reads every HTTPRoute through the Gateway listener it attaches
// to: rules with backends on HTTPS listeners are routes, a rule that only
// redirects to https on a plain listener marks its hosts redirected.
func gatewayTable(m *Manifests) (routeTable, map[string]bool, []string) {
	t := routeTable{routes: map[routeKey]routeTarget{}, tls: map[string]string{}}
	redirected := map[string]bool{}
	var problems []string
	for _, r := range m.HTTPRoutes {
		for _, ref := range r.Spec.ParentRefs {
			l := m.listenerOf(ref)
			if l == nil {
				problems = append(problems, fmt.Sprintf("HTTPRoute %s: parentRef %s/%s is no listener of a Gateway here", r.Name, ref.Name, deref(ref.SectionName)))
				continue
			}
			hosts := routeHosts(r, l)
			if l.Protocol == gatewayv1.HTTPSProtocolType && l.TLS != nil && len(l.TLS.CertificateRefs) > 0 {
				for _, h := range hosts {
					t.tls[h] = string(l.TLS.CertificateRefs[0].Name)
				}
			}
			for _, rule := range r.Spec.Rules {
				problems = append(problems, prefixed(fmt.Sprintf("HTTPRoute %s: ", r.Name), ruleRoutes(t, redirected, l, hosts, rule))...)
			}
		}
	}
	return t, redirected, problems
}

// ruleRoutes records one rule: a redirect to https, or path prefixes to one
// backend each, served over HTTPS only and with HSTS.
func ruleRoutes(t routeTable, redirected map[string]bool, l *gatewayv1.Listener, hosts []string, rule gatewayv1.HTTPRouteRule) []string {
	if redirectsToHTTPS(rule) {
		for _, h := range hosts {
			redirected[h] = l.Protocol == gatewayv1.HTTPProtocolType || redirected[h]
		}
		return nil
	}
	var problems []string
	if l.Protocol != gatewayv1.HTTPSProtocolType {
		problems = append(problems, fmt.Sprintf("listener %s (%s) serves backends without TLS", l.Name, l.Protocol))
	}
	if !setsHSTS(rule) {
		problems = append(problems, fmt.Sprintf("a rule does not set %s, which ingress-nginx sends on every HTTPS answer", HSTS))
	}
	if len(rule.BackendRefs) != 1 || rule.BackendRefs[0].Port == nil {
		return append(problems, fmt.Sprintf("a rule has %d backends, not one Service port as an Ingress path has", len(rule.BackendRefs)))
	}
	b := rule.BackendRefs[0]
	for _, match := range rule.Matches {
		if match.Path == nil || match.Path.Type == nil || *match.Path.Type != gatewayv1.PathMatchPathPrefix || match.Path.Value == nil {
			problems = append(problems, "a match is not a PathPrefix, as the Ingress's Prefix paths are")
			continue
		}
		for _, h := range hosts {
			t.routes[routeKey{h, *match.Path.Value}] = routeTarget{string(b.Name), int32(*b.Port)}
		}
	}
	return problems
}

func redirectsToHTTPS(rule gatewayv1.HTTPRouteRule) bool {
	for _, f := range rule.Filters {
		if f.Type == gatewayv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil && deref(f.RequestRedirect.Scheme) == "https" {
			return len(rule.BackendRefs) == 0
		}
	}
	return false
}

func setsHSTS(rule gatewayv1.HTTPRouteRule) bool {
	for _, f := range rule.Filters {
		if f.Type != gatewayv1.HTTPRouteFilterResponseHeaderModifier || f.ResponseHeaderModifier == nil {
			continue
		}
		for _, h := range f.ResponseHeaderModifier.Set {
			if strings.EqualFold(string(h.Name), HSTS) && strings.Contains(h.Value, "max-age=31536000") {
				return true
			}
		}
	}
	return false
}

func (m *Manifests) listenerOf(ref gatewayv1.ParentReference) *gatewayv1.Listener {
	for _, g := range m.Gateways {
		if g.Name != string(ref.Name) {
			continue
		}
		for i, l := range g.Spec.Listeners {
			if ref.SectionName == nil || l.Name == *ref.SectionName {
				return &g.Spec.Listeners[i]
			}
		}
	}
	return nil
}

// routeHosts: a route's hostnames, or its listener's when it names none.
func routeHosts(r *gatewayv1.HTTPRoute, l *gatewayv1.Listener) []string {
	var out []string
	for _, h := range r.Spec.Hostnames {
		out = append(out, string(h))
	}
	if len(out) == 0 && l.Hostname != nil {
		out = append(out, string(*l.Hostname))
	}
	return out
}

func deref[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

// CheckGatewayRoutes: where a Gateway is rendered, its HTTPRoutes send every
// (host, path) the Ingresses route to the same Service and port, route
// nothing more, serve each host with the certificate the Ingress uses,
// redirect its plain HTTP to HTTPS (the Ingress's force-ssl-redirect) and
// set HSTS; every Gateway names a class.
func CheckGatewayRoutes(m *Manifests) []string {
	if len(m.Gateways) == 0 && len(m.HTTPRoutes) == 0 {
		return nil
	}
	var problems []string
	for _, g := range m.Gateways {
		if g.Spec.GatewayClassName == "" {
			problems = append(problems, fmt.Sprintf("Gateway %s names no GatewayClass", g.Name))
		}
	}
	ing := ingressTable(m)
	gw, redirected, found := gatewayTable(m)
	problems = append(problems, found...)
	for _, k := range sortedKeys(ing.routes) {
		if got, ok := gw.routes[k]; !ok {
			problems = append(problems, fmt.Sprintf("the Ingress routes %s to %s; no HTTPRoute does", k, ing.routes[k]))
		} else if got != ing.routes[k] {
			problems = append(problems, fmt.Sprintf("%s: the HTTPRoutes send it to %s, the Ingress to %s", k, got, ing.routes[k]))
		}
	}
	for _, k := range sortedKeys(gw.routes) {
		if _, ok := ing.routes[k]; !ok {
			problems = append(problems, fmt.Sprintf("the HTTPRoutes route %s, which the Ingress does not", k))
		}
	}
	for host, secret := range ing.tls {
		if gw.tls[host] != secret {
			problems = append(problems, fmt.Sprintf("%s: the Gateway's certificate is %q, the Ingress's %q", host, gw.tls[host], secret))
		}
		if !redirected[host] {
			problems = append(problems, fmt.Sprintf("%s: no HTTPRoute on a plain HTTP listener redirects it to https, as the Ingress's %s does", host, ForceSSLRedirect))
		}
	}
	return problems
}

func sortedKeys(routes map[routeKey]routeTarget) []routeKey {
	var out []routeKey
	for k := range routes {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b routeKey) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// gatewayFlows are the Gateway proxy's connections to the pods behind every
// HTTPRoute backend.
func (m *Manifests) gatewayFlows(pods map[string]*Endpoint) []Flow {
	var flows []Flow
	for _, r := range m.HTTPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				if b.Port == nil {
					continue
				}
				to, port, problem := m.resolve(pods, &url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", b.Name, *b.Port)})
				if problem != "" {
					continue // CheckGatewayRoutes reports it
				}
				for _, t := range to {
					flows = append(flows, Flow{&GatewayProxy, t, port, corev1.ProtocolTCP})
				}
			}
		}
	}
	return flows
}

// gatewaySecrets are the certificates the Gateways' listeners read.
func gatewaySecrets(m *Manifests) []SecretUse {
	var out []SecretUse
	for _, g := range m.Gateways {
		for _, l := range g.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, c := range l.TLS.CertificateRefs {
				out = append(out, SecretUse{Where: fmt.Sprintf("Gateway %s listener %s", g.Name, l.Name), Secret: string(c.Name), TLS: true})
			}
		}
	}
	return out
}
