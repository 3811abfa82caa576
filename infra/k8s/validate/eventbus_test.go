package validate

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// rendered decodes a fresh copy of one rendering (an overlay and its
// components, as renderCase names it), for tests that break it.
func rendered(t *testing.T, name string) *Manifests {
	t.Helper()
	for _, c := range renders(t) {
		if c.Name == name {
			m, err := Decode(c.Docs)
			require.NoError(t, err)
			return m
		}
	}
	t.Fatalf("no rendering %s", name)
	return nil
}

func usesJetStream(c renderCase) bool { return slices.Contains(c.Components, "jetstream") }

// accessTable is DESIGN.md §4's table as common/bus writes it for NATS
// Streaming (base/nats/nats.conf, kept current by common/bus's test).
func accessTable(t *testing.T) AccessTable {
	t.Helper()
	conf, err := os.ReadFile(theRepo(t).k8s("base", "nats", "nats.conf"))
	require.NoError(t, err)
	table := StanAccessTable(string(conf), "ticketing")
	require.Equal(t, []string{"order:created", "order:cancelled", "order:completed", "parked.orders-service"}, table["orders"])
	require.Equal(t, []string{">"}, table["redrive"])
	require.Len(t, table, 6, "five services and redrive")
	return table
}

func TestEveryServiceSelectsTheTransportItsBrokerRuns(t *testing.T) {
	var names []string
	for _, c := range renders(t) {
		names = append(names, c.Name)
		assert.Empty(t, CheckEventBus(c.M, c.Overlay == "prod"), c.Name)
		want := TransportStan
		if usesJetStream(c) {
			want = TransportJetStream
		}
		for _, d := range c.M.Deployments {
			env, _ := envByName(d.Spec.Template.Spec.Containers[0])
			if e, ok := env["NATS_URL"]; ok {
				_, kind := c.M.brokerNamed(e.Value)
				assert.Equal(t, want, brokerKinds[kind], "%s: %s's broker", c.Name, d.Name)
			}
		}
	}
	for _, want := range []string{"dev+jetstream", "prod+jetstream", "prod+jetstream+stripe-standin"} {
		assert.Contains(t, names, want)
	}
}

func TestEventBusCheckCatches(t *testing.T) {
	for name, tc := range map[string]struct {
		rendering string
		everyNode bool
		breakIt   func(t *testing.T, m *Manifests)
		want      []string
	}{
		"a service on stan against JetStream": {"prod+jetstream", true, func(t *testing.T, m *Manifests) {
			envVar(t, container(t, m, "orders"), "EVENT_BUS").Value = TransportStan
		}, []string{"Deployment/orders", "EVENT_BUS=stan", "runs nats"}},
		"a service on JetStream against NATS Streaming": {"prod", true, func(t *testing.T, m *Manifests) {
			c := container(t, m, "payments")
			c.Env = append(c.Env, corev1.EnvVar{Name: "EVENT_BUS", Value: TransportJetStream})
		}, []string{"Deployment/payments", "EVENT_BUS=jetstream", "runs nats-streaming"}},
		"services on different transports": {"dev", false, func(t *testing.T, m *Manifests) {
			c := container(t, m, "tickets")
			c.Env = append(c.Env, corev1.EnvVar{Name: "EVENT_BUS", Value: TransportJetStream})
		}, []string{"different transports"}},
		"an unknown transport": {"dev+jetstream", false, func(t *testing.T, m *Manifests) {
			envVar(t, container(t, m, "auth"), "EVENT_BUS").Value = "kafka"
		}, []string{"Deployment/auth", `"kafka" is neither`}},
		"fewer replicas than production's nodes": {"prod+jetstream", true, func(t *testing.T, m *Manifests) {
			envVar(t, container(t, m, "expiration"), "JETSTREAM_REPLICAS").Value = "2"
		}, []string{"Deployment/expiration", "JETSTREAM_REPLICAS=2, not the 3 nodes"}},
		"more replicas than nodes": {"dev+jetstream", false, func(t *testing.T, m *Manifests) {
			envVar(t, container(t, m, "tickets"), "JETSTREAM_REPLICAS").Value = "5"
		}, []string{"Deployment/tickets", "JETSTREAM_REPLICAS=5, more than the 3 nodes"}},
		"no replicas": {"dev+jetstream", false, func(t *testing.T, m *Manifests) {
			withoutEnv(container(t, m, "orders"), "JETSTREAM_REPLICAS")
		}, []string{"Deployment/orders", "JETSTREAM_REPLICAS is not set"}},
		"replicas for stan": {"prod", true, func(t *testing.T, m *Manifests) {
			c := container(t, m, "auth")
			c.Env = append(c.Env, corev1.EnvVar{Name: "JETSTREAM_REPLICAS", Value: "3"})
		}, []string{"Deployment/auth", "JETSTREAM_REPLICAS is set, but the transport is stan"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := rendered(t, tc.rendering)
			require.Empty(t, CheckEventBus(m, tc.everyNode), "the rendering passes before it is broken")
			tc.breakIt(t, m)
			assertProblem(t, CheckEventBus(m, tc.everyNode), tc.want...)
		})
	}
	t.Run("development may ask for fewer replicas", func(t *testing.T) {
		m := rendered(t, "dev+jetstream")
		envVar(t, container(t, m, "tickets"), "JETSTREAM_REPLICAS").Value = "1"
		assert.Empty(t, CheckEventBus(m, false))
	})
}

// Production runs the broker as a cluster of three, each node on its own
// machine, for whichever transport the services select.
func TestProductionRunsTheBrokerAsAClusterForEitherTransport(t *testing.T) {
	var seen []string
	for _, c := range renders(t) {
		if c.Overlay != "prod" {
			continue
		}
		assert.Empty(t, CheckBrokerCluster(c.M), c.Name)
		seen = append(seen, c.Name)
	}
	assert.Contains(t, seen, "prod")
	assert.Contains(t, seen, "prod+jetstream")
}

func TestBrokerClusterCheckCatches(t *testing.T) {
	for name, tc := range map[string]struct {
		rendering, broker string
		breakIt           func(t *testing.T, m *Manifests, broker string)
		want              []string
	}{
		"one NATS Streaming node":         {"prod", "nats", oneNode, []string{"StatefulSet/nats", "runs 1 nodes, fewer than 3"}},
		"one JetStream node":              {"prod+jetstream", "jetstream", oneNode, []string{"StatefulSet/jetstream", "runs 1 nodes, fewer than 3"}},
		"JetStream nodes sharing a node":  {"prod+jetstream", "jetstream", noAntiAffinity, []string{"StatefulSet/jetstream", "anti-affinity"}},
		"NATS Streaming sharing a node":   {"prod", "nats", noAntiAffinity, []string{"StatefulSet/nats", "anti-affinity"}},
		"JetStream without a budget":      {"prod+jetstream", "jetstream", noBudget, []string{"StatefulSet/jetstream", "0 disruption budgets"}},
		"NATS Streaming without a budget": {"prod", "nats", noBudget, []string{"StatefulSet/nats", "0 disruption budgets"}},
		"JetStream off": {"prod+jetstream", "jetstream", func(t *testing.T, m *Manifests, b string) {
			withoutArg(statefulSet(t, m, b), "-js")
		}, []string{"StatefulSet/jetstream", "without JetStream"}},
		"JetStream storing off its volume": {"prod+jetstream", "jetstream", func(t *testing.T, m *Manifests, b string) {
			setArg(statefulSet(t, m, b), "-sd", "/tmp/jetstream")
		}, []string{"StatefulSet/jetstream", `store directory "/tmp/jetstream" is not on a volume`}},
		"a fixed server name": {"prod+jetstream", "jetstream", func(t *testing.T, m *Manifests, b string) {
			setArg(statefulSet(t, m, b), "-server_name", "a")
		}, []string{"StatefulSet/jetstream", `-server_name "a" is not the pod's name`}},
		"no cluster name": {"prod+jetstream", "jetstream", func(t *testing.T, m *Manifests, b string) {
			withoutArg(statefulSet(t, m, b), "-cluster_name")
		}, []string{"StatefulSet/jetstream", "no -cluster_name"}},
		"a JetStream route missing": {"prod+jetstream", "jetstream", func(t *testing.T, m *Manifests, b string) {
			setArg(statefulSet(t, m, b), "-routes", "nats://stan:$(STAN_PASSWORD)@jetstream-0.jetstream-cluster:6222")
		}, []string{"StatefulSet/jetstream", "-routes", "are not the members"}},
		"JetStream routes anyone may join": {"prod+jetstream", "jetstream", func(t *testing.T, m *Manifests, b string) {
			setArg(statefulSet(t, m, b), "-cluster", "nats://0.0.0.0:6222")
		}, []string{"StatefulSet/jetstream", "carries no credentials"}},
		"NATS Streaming not clustered": {"prod", "nats", func(t *testing.T, m *Manifests, b string) {
			withoutArg(statefulSet(t, m, b), "-clustered")
		}, []string{"StatefulSet/nats", "without -clustered"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := rendered(t, tc.rendering)
			require.Empty(t, CheckBrokerCluster(m), "the rendering passes before it is broken")
			tc.breakIt(t, m, tc.broker)
			assertProblem(t, CheckBrokerCluster(m), tc.want...)
		})
	}
}

func oneNode(t *testing.T, m *Manifests, broker string) {
	one := int32(1)
	statefulSetNamed(t, m, broker).Spec.Replicas = &one
}

func noAntiAffinity(t *testing.T, m *Manifests, broker string) {
	statefulSetNamed(t, m, broker).Spec.Template.Spec.Affinity = nil
}

func noBudget(_ *testing.T, m *Manifests, broker string) {
	m.PDBs = slices.DeleteFunc(m.PDBs, func(p *policyv1.PodDisruptionBudget) bool { return p.Name == broker })
}

// jetStreamConfigMap is the (hashed) name of the JetStream configuration.
func jetStreamConfigMap(t *testing.T, m *Manifests) string {
	t.Helper()
	return statefulSetNamed(t, m, "jetstream").Spec.Template.Spec.Volumes[0].ConfigMap.Name
}

func TestJetStreamUsersAreExactlyTheServicesAndTheirSubjects(t *testing.T) {
	table := accessTable(t)
	checked := 0
	for _, c := range renders(t) {
		assert.Empty(t, CheckJetStreamAccess(c.M, table), c.Name)
		if usesJetStream(c) {
			checked++
		}
	}
	assert.NotZero(t, checked)
}

func TestJetStreamAccessCheckCatches(t *testing.T) {
	edit := func(from, to string) func(string) string {
		return func(conf string) string { return strings.Replace(conf, from, to, 1) }
	}
	for name, tc := range map[string]struct {
		edit func(string) string
		want []string
	}{
		"a service publishing another's event": {edit(`"ticketing.order:created", `, `"ticketing.order:created", "ticketing.payment:created", `),
			[]string{"user orders", "not exactly its channels"}},
		"a service missing one of its events": {edit(`"ticketing.ticket:updated", `, ``),
			[]string{"user tickets", "not exactly its channels"}},
		"a service allowed every API call": {edit(`"$JS.API.INFO"`, `"$JS.API.>"`),
			[]string{"user auth", "may call $JS.API.>"}},
		"a service that cannot pull": {edit(`"$JS.API.CONSUMER.MSG.NEXT.TICKETING.>", `, ``),
			[]string{"user auth", "may not call $JS.API.CONSUMER.MSG.NEXT.TICKETING.>"}},
		"a service that may move leaders": {edit(`"$JS.API.CONSUMER.LEADER.>", `, ``),
			[]string{"user auth", "not denied $JS.API.CONSUMER.LEADER.>"}},
		"a service that may delete the stream": {edit(`deny: ["$JS.API.STREAM.DELETE.>", `, `deny: [`),
			[]string{"user auth", "not denied $JS.API.STREAM.DELETE.>"}},
		"a service reading every subject": {edit(`subscribe: { allow: ["_INBOX.>"]`, `subscribe: { allow: ["_INBOX.>", ">"]`),
			[]string{"user auth", "not only its inbox"}},
		"a user no one needs": {edit(`    { user: "redrive"`, `    { user: "mallory", password: $REDRIVE_PASSWORD, permissions: { publish: { allow: [] }, subscribe: { allow: [] } } }
    { user: "redrive"`), []string{"user mallory is in no access table"}},
		"a service without a user": {edit(`{ user: "payments"`, `{ user: "payment"`),
			[]string{"user payments of the access table has no JetStream user"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := rendered(t, "prod+jetstream")
			require.Empty(t, CheckJetStreamAccess(m, accessTable(t)))
			cm := named(t, m.ConfigMaps, jetStreamConfigMap(t, m))
			edited := tc.edit(cm.Data["nats.conf"])
			require.NotEqual(t, cm.Data["nats.conf"], edited, "the edit applies")
			cm.Data["nats.conf"] = edited
			assertProblem(t, CheckJetStreamAccess(m, accessTable(t)), append([]string{"StatefulSet/jetstream"}, tc.want...)...)
		})
	}
}

func TestNetworkPoliciesLetJetStreamNodesAndServicesTalk(t *testing.T) {
	for _, rendering := range []string{"dev+jetstream", "prod+jetstream"} {
		m := rendered(t, rendering)
		require.Empty(t, CheckNetwork(m))
		policy(t, m, "jetstream").Spec.Ingress = policy(t, m, "jetstream").Spec.Ingress[:1]
		assertProblem(t, CheckNetwork(m), "needed but denied", "jetstream", "6222")
		m = rendered(t, rendering)
		policy(t, m, "jetstream").Spec.Egress = nil
		assertProblem(t, CheckNetwork(m), "needed but denied", "jetstream", "6222")
		m = rendered(t, rendering)
		policy(t, m, "jetstream").Spec.Ingress = policy(t, m, "jetstream").Spec.Ingress[1:]
		assertProblem(t, CheckNetwork(m), "needed but denied", "orders", "jetstream", "4222")
		m = rendered(t, rendering)
		policy(t, m, "payments").Spec.Egress[1].To[0].PodSelector.MatchLabels["app.kubernetes.io/name"] = "nats"
		assertProblem(t, CheckNetwork(m), "needed but denied", "payments", "jetstream", "4222")
	}
}
