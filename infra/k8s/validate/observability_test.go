package validate

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// goServices are the services common/metrics instruments: all but the web client.
func goServices() []string {
	return slices.DeleteFunc(keys(ContractEnv), func(s string) bool { return s == "client" })
}

// observed are the renders with the observability component.
func observed(t *testing.T) []renderCase {
	var out []renderCase
	for _, c := range renders(t) {
		if slices.Contains(c.Components, "observability") {
			out = append(out, c)
		}
	}
	require.NotEmpty(t, out, "the observability component is rendered")
	return out
}

func exportedMetrics(t *testing.T) ExportedMetrics {
	e, err := ExportedMetricsInSource(theRepo(t).root)
	require.NoError(t, err)
	return e
}

func TestExportedMetricsAreReadFromCommonMetrics(t *testing.T) {
	e := exportedMetrics(t)
	for _, want := range []string{"http_requests_total", "events_parked_total", "outbox_pending_events", "reservations_won_total", "payments_total"} {
		assert.Contains(t, e.Names, want)
	}
	assert.ElementsMatch(t, []string{"go_", "process_"}, e.Prefixes)
}

func TestObservabilityScrapesEveryServiceAndShowsWhatTheyExport(t *testing.T) {
	e := exportedMetrics(t)
	for _, c := range observed(t) {
		assert.Empty(t, CheckScraping(c.M, goServices()), c.Name)
		assert.Empty(t, CheckQueries(c.M, e), c.Name)
		queries, _ := c.M.Queries()
		assert.Len(t, queries, 4, "%s: three dashboards and the alerts", c.Name)
		assert.True(t, slices.ContainsFunc(queries["ConfigMap "+configMapWith(t, c.M, AlertsKey).Name+": "+AlertsKey], func(q string) bool {
			return strings.Contains(q, "redis_memory_used_bytes") && strings.Contains(q, "redis_memory_max_bytes")
		}), "%s: an alert compares expiration's Redis's memory with its cap (ExpirationRedisNearlyFull)", c.Name)
		for _, svc := range goServices() {
			d := c.M.Deployment(svc)
			require.NotNil(t, d, svc)
			env, _ := envByName(d.Spec.Template.Spec.Containers[0])
			assert.Equal(t, "http://otel-collector:4317", env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value, "%s: %s exports its traces to the collector", c.Name, svc)
		}
	}
}

func TestMetricsAreNeverServedThroughTheIngress(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckMetricsNotPublic(c.M, goServices()), c.Name)
	}
}

// The checks catch what they are for, on a copy of a real render with the
// fault put in.

func observedCopy(t *testing.T) *Manifests {
	c := observed(t)[0]
	m := *c.M
	m.ConfigMaps = nil
	for _, cm := range c.M.ConfigMaps {
		m.ConfigMaps = append(m.ConfigMaps, cm.DeepCopy())
	}
	m.Ingresses = nil
	for _, ing := range c.M.Ingresses {
		m.Ingresses = append(m.Ingresses, ing.DeepCopy())
	}
	return &m
}

func configMapWith(t *testing.T, m *Manifests, key string) *corev1.ConfigMap {
	for _, cm := range m.ConfigMaps {
		if _, ok := cm.Data[key]; ok {
			return cm
		}
	}
	t.Fatalf("no ConfigMap holds %s", key)
	return nil
}

func TestScrapeCheckCatchesAWrongOrMissingTarget(t *testing.T) {
	m := observedCopy(t)
	cm := configMapWith(t, m, PrometheusConfigKey)
	cm.Data[PrometheusConfigKey] = strings.Replace(cm.Data[PrometheusConfigKey], "orders:3000", "orders:9999", 1)
	problems := CheckScraping(m, goServices())
	assert.Contains(t, problems, `scrape target orders:9999: Service "orders" has no port 9999`)
	assert.Contains(t, problems, "service orders is not scraped on its http port")
	assert.Contains(t, CheckNetwork(m), "allowed but not needed: prometheus -> orders TCP/3000", "the policy follows what is scraped")

	cm.Data[PrometheusConfigKey] = strings.Replace(cm.Data[PrometheusConfigKey], "orders:9999", "ordrs:3000", 1)
	assert.Contains(t, CheckScraping(m, goServices()), `scrape target ordrs:3000: no Service "ordrs"`)
}

func TestQueryCheckCatchesAnUnknownMetricAndAnUnshownOne(t *testing.T) {
	m := observedCopy(t)
	e := exportedMetrics(t)
	cm := configMapWith(t, m, "marketplace.json")
	cm.Data["marketplace.json"] = strings.ReplaceAll(cm.Data["marketplace.json"], "reservations_won_total", "reservations_made_total")
	problems := strings.Join(CheckQueries(m, e), "\n")
	assert.Contains(t, problems, "names reservations_made_total, which no service exports")
	assert.Contains(t, problems, "no dashboard shows reservations_won_total")

	alerts := configMapWith(t, m, AlertsKey)
	alerts.Data[AlertsKey] = strings.Replace(alerts.Data[AlertsKey], "outbox_oldest_pending_age_seconds", "outbox_age_seconds", 1)
	assert.Contains(t, strings.Join(CheckQueries(m, e), "\n"), "names outbox_age_seconds, which no service exports")
}

func TestIngressCheckCatchesARouteToMetrics(t *testing.T) {
	m := observedCopy(t)
	require.NotEmpty(t, m.Ingresses)
	exact := networkingv1.PathTypeExact
	prefix := networkingv1.PathTypePrefix
	rule := &m.Ingresses[0].Spec.Rules[0]
	rule.HTTP.Paths = append(rule.HTTP.Paths,
		networkingv1.HTTPIngressPath{Path: "/metrics", PathType: &exact, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "orders", Port: networkingv1.ServiceBackendPort{Name: "http"}}}},
		networkingv1.HTTPIngressPath{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "auth", Port: networkingv1.ServiceBackendPort{Name: "http"}}}})
	problems := CheckMetricsNotPublic(m, goServices())
	assert.Len(t, problems, 2, problems)
}
