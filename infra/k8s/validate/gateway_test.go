package validate

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestGatewayRoutesEqualTheIngress(t *testing.T) {
	with := 0
	for _, c := range renders(t) {
		if slices.Contains(c.Components, "gateway-api") {
			with++
			require.Len(t, c.M.Gateways, 1, c.Name)
			// Every path of the Ingress, and the redirect.
			assert.Len(t, c.M.HTTPRoutes, 2, c.Name)
		} else {
			assert.Empty(t, c.M.Gateways, c.Name)
		}
		assert.Empty(t, CheckGatewayRoutes(c.M), c.Name)
	}
	assert.Positive(t, with, "some rendering enables the component")
}

// renderGateway is the production overlay with the Gateway API component: a
// copy whose Gateways, HTTPRoutes and NetworkPolicies (what the tests break)
// are its own; the rest is shared and left alone.
func renderGateway(t *testing.T) *Manifests {
	t.Helper()
	for _, c := range renders(t) {
		if c.Overlay != "prod" || !slices.Equal(c.Components, []string{"gateway-api"}) {
			continue
		}
		m := *c.M
		m.Gateways, m.HTTPRoutes, m.NetworkPolicies = nil, nil, nil
		for _, g := range c.M.Gateways {
			m.Gateways = append(m.Gateways, g.DeepCopy())
		}
		for _, r := range c.M.HTTPRoutes {
			m.HTTPRoutes = append(m.HTTPRoutes, r.DeepCopy())
		}
		for _, np := range c.M.NetworkPolicies {
			m.NetworkPolicies = append(m.NetworkPolicies, np.DeepCopy())
		}
		return &m
	}
	t.Fatal("no rendering of prod+gateway-api")
	return nil
}

func httpRoute(t *testing.T, m *Manifests, name string) *gatewayv1.HTTPRoute {
	t.Helper()
	return named(t, m.HTTPRoutes, name)
}

func TestGatewayRoutesCheckCatches(t *testing.T) {
	port := gatewayv1.PortNumber(3001)
	for name, tc := range map[string]struct {
		breakIt func(t *testing.T, m *Manifests)
		want    []string
	}{
		"a path sent to another port": {func(t *testing.T, m *Manifests) {
			httpRoute(t, m, "ticketing").Spec.Rules[1].BackendRefs[0].Port = &port
		}, []string{"ticketing.dev/api/tickets", "tickets:3001", "tickets:3000"}},
		"a path sent to another service": {func(t *testing.T, m *Manifests) {
			httpRoute(t, m, "ticketing").Spec.Rules[2].BackendRefs[0].Name = "payments"
		}, []string{"ticketing.dev/api/orders", "payments:3000", "the Ingress to orders:3000"}},
		"a path missing": {func(t *testing.T, m *Manifests) {
			r := httpRoute(t, m, "ticketing")
			r.Spec.Rules = r.Spec.Rules[1:]
		}, []string{"the Ingress routes ticketing.dev/api/users to auth:3000; no HTTPRoute does"}},
		"a path the Ingress does not have": {func(t *testing.T, m *Manifests) {
			v := "/api/admin"
			httpRoute(t, m, "ticketing").Spec.Rules[0].Matches[0].Path.Value = &v
		}, []string{"route ticketing.dev/api/admin, which the Ingress does not"}},
		"another certificate": {func(t *testing.T, m *Manifests) {
			m.Gateways[0].Spec.Listeners[0].TLS.CertificateRefs[0].Name = "other-tls"
		}, []string{"ticketing.dev: the Gateway's certificate is \"other-tls\""}},
		"no redirect to HTTPS": {func(t *testing.T, m *Manifests) {
			m.HTTPRoutes = slices.DeleteFunc(m.HTTPRoutes, func(r *gatewayv1.HTTPRoute) bool { return r.Name == "ticketing-https-redirect" })
		}, []string{"ticketing.dev: no HTTPRoute on a plain HTTP listener redirects it"}},
		"the API over plain HTTP": {func(t *testing.T, m *Manifests) {
			http := gatewayv1.SectionName("http")
			httpRoute(t, m, "ticketing").Spec.ParentRefs[0].SectionName = &http
		}, []string{"HTTPRoute ticketing", "serves backends without TLS"}},
		"no HSTS": {func(t *testing.T, m *Manifests) {
			httpRoute(t, m, "ticketing").Spec.Rules[4].Filters = nil
		}, []string{"HTTPRoute ticketing", "Strict-Transport-Security"}},
		"a route on a listener that does not exist": {func(t *testing.T, m *Manifests) {
			other := gatewayv1.SectionName("https-2")
			httpRoute(t, m, "ticketing").Spec.ParentRefs[0].SectionName = &other
		}, []string{"HTTPRoute ticketing", "no listener"}},
		"no class": {func(t *testing.T, m *Manifests) {
			m.Gateways[0].Spec.GatewayClassName = ""
		}, []string{"Gateway ticketing names no GatewayClass"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := renderGateway(t)
			require.Empty(t, CheckGatewayRoutes(m))
			tc.breakIt(t, m)
			assertProblem(t, CheckGatewayRoutes(m), tc.want...)
		})
	}
}

func TestNetworkPoliciesAdmitTheGatewaysProxy(t *testing.T) {
	m := renderGateway(t)
	require.Empty(t, CheckNetwork(m))
	m.NetworkPolicies = slices.DeleteFunc(m.NetworkPolicies, func(np *networkingv1.NetworkPolicy) bool { return np.Name == "from-gateway" })
	assertProblem(t, CheckNetwork(m), "needed but denied", "the Gateway's proxy", "client")
	m = renderGateway(t)
	m.HTTPRoutes = nil
	assertProblem(t, CheckNetwork(m), "allowed but not needed", "the Gateway's proxy")
}
