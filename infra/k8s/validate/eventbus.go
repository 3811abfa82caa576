package validate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The event bus's two transports (common/bus, EVENT_BUS): NATS Streaming
// (stan, the default) and JetStream, each with its broker image. Without
// components/jetstream the broker is NATS Streaming; with it, a nats-server
// cluster with JetStream on, whose one stream holds every event.
const (
	TransportStan      = "stan"
	TransportJetStream = "jetstream"

	kindStan      = "nats-streaming"
	kindJetStream = "nats"

	// JetStreamStream is the stream every service creates or updates at
	// connect; JetStreamSubjectPrefix the prefix of its subjects, one per
	// NATS Streaming channel (ticketing.order:created, ticketing.parked.<queue>).
	JetStreamStream        = "TICKETING"
	JetStreamSubjectPrefix = "ticketing."
)

// brokerKinds are the store kinds (images) that are an event broker, by the
// transport they serve.
var brokerKinds = map[string]string{kindStan: TransportStan, kindJetStream: TransportJetStream}

func isBroker(kind string) bool { _, ok := brokerKinds[kind]; return ok }

// brokerNamed is the broker StatefulSet a service's NATS_URL names, and its
// kind ("" when it names none).
func (m *Manifests) brokerNamed(natsURL string) (*appsv1.StatefulSet, string) {
	urls, err := ParseURLList(natsURL)
	if err != nil || len(urls) == 0 {
		return nil, ""
	}
	for _, s := range m.StatefulSets {
		if s.Name != StoreOfHost(urls[0].Hostname()) {
			continue
		}
		if st, _ := storeOf(m, s); isBroker(st.kind) {
			return s, st.kind
		}
	}
	return nil, ""
}

// CheckEventBus: every service selects the transport its broker runs
// (EVENT_BUS unset or stan for NATS Streaming, jetstream for JetStream), all
// of them the same one, and on JetStream asks for a number of stream replicas
// (JETSTREAM_REPLICAS) the cluster can hold: at least 1 and at most its nodes,
// exactly its nodes when everyNode (production: R3 on three nodes, so losing
// a node loses no stream's majority). JETSTREAM_REPLICAS is not set for stan,
// whose clustering replicates everything anyway.
func CheckEventBus(m *Manifests, everyNode bool) []string {
	var problems []string
	selected := map[string][]string{}
	for _, d := range m.Deployments {
		c := d.Spec.Template.Spec.Containers[0]
		env, _ := envByName(c)
		natsURL, ok := env["NATS_URL"]
		if !ok {
			continue
		}
		transport := env["EVENT_BUS"].Value
		if transport == "" {
			transport = TransportStan
		}
		selected[transport] = append(selected[transport], d.Name)
		found := busMatchesBroker(m, natsURL.Value, transport)
		found = appendIf(found, replicasFit(m, env, natsURL.Value, transport, everyNode))
		problems = append(problems, prefixed(fmt.Sprintf("Deployment/%s/%s: ", d.Name, c.Name), found)...)
	}
	if len(selected) > 1 {
		problems = append(problems, fmt.Sprintf("the services select different transports %v: one broker serves them all", selected))
	}
	return problems
}

func busMatchesBroker(m *Manifests, natsURL, transport string) []string {
	want, known := map[string]string{TransportStan: kindStan, TransportJetStream: kindJetStream}[transport]
	if !known {
		return []string{fmt.Sprintf("EVENT_BUS=%q is neither %s nor %s", transport, TransportStan, TransportJetStream)}
	}
	s, kind := m.brokerNamed(natsURL)
	if s == nil {
		return nil // CheckStoreAuth and CheckNetwork name a URL no broker serves
	}
	if kind != want {
		return []string{fmt.Sprintf("EVENT_BUS=%s, but NATS_URL names %s, which runs %s (%s)", transport, s.Name, kind, brokerKinds[kind])}
	}
	return nil
}

func replicasFit(m *Manifests, env map[string]corev1.EnvVar, natsURL, transport string, everyNode bool) string {
	e, set := env["JETSTREAM_REPLICAS"]
	if transport != TransportJetStream {
		if set {
			return "JETSTREAM_REPLICAS is set, but the transport is " + transport
		}
		return ""
	}
	s, _ := m.brokerNamed(natsURL)
	if s == nil {
		return ""
	}
	nodes := int(replicasOf(s))
	r, err := strconv.Atoi(e.Value)
	switch {
	case !set:
		return fmt.Sprintf("JETSTREAM_REPLICAS is not set: the stream would keep one replica on a %d-node cluster", nodes)
	case err != nil || r < 1:
		return fmt.Sprintf("JETSTREAM_REPLICAS=%q is not a whole number of at least 1", e.Value)
	case r > nodes:
		return fmt.Sprintf("JETSTREAM_REPLICAS=%d, more than the %d nodes of %s: the stream cannot be created", r, nodes, s.Name)
	case everyNode && r != nodes:
		return fmt.Sprintf("JETSTREAM_REPLICAS=%d, not the %d nodes of %s: in production every node keeps a replica", r, nodes, s.Name)
	}
	return ""
}

// CheckBrokerCluster (production): the broker the services use, for
// whichever transport they select, runs as a cluster of at least MinMembers
// on nodes of their own, under a budget that keeps a majority, and is
// configured as one cluster (NATS Streaming -clustered with every member a
// peer; nats-server routes to every member, JetStream on). It holds whatever
// CheckReplicatedStores is told about single stores.
func CheckBrokerCluster(m *Manifests) []string {
	var problems []string
	brokers := map[string]bool{}
	for _, d := range m.Deployments {
		env, _ := envByName(d.Spec.Template.Spec.Containers[0])
		if e, ok := env["NATS_URL"]; ok {
			if s, kind := m.brokerNamed(e.Value); s != nil {
				brokers[s.Name+"\x00"+kind] = true
			}
		}
	}
	if len(brokers) == 0 {
		return []string{"no service names a broker of these manifests"}
	}
	for key := range brokers {
		name, kind, _ := strings.Cut(key, "\x00")
		s := named0(m.StatefulSets, name)
		w := Workload{"StatefulSet", s.Name, s.Labels, s.Spec.Replicas, s.Spec.Selector, s.Spec.Template}
		var found []string
		if n := replicasOf(s); n < MinMembers {
			found = append(found, fmt.Sprintf("the %s broker runs %d nodes, fewer than %d: losing one stops every flow", brokerKinds[kind], n, MinMembers))
		}
		found = append(found, spreadAcrossNodes(s)...)
		found = append(found, budgetKeepsMajority(m, w)...)
		if kind == kindStan {
			found = append(found, brokerClustered(s)...)
		} else {
			found = append(found, jetStreamClustered(m, s)...)
		}
		problems = append(problems, prefixed(w.ID()+": ", found)...)
	}
	slices.Sort(problems)
	return problems
}

func named0(sets []*appsv1.StatefulSet, name string) *appsv1.StatefulSet {
	for _, s := range sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// jetStreamClustered: nats-server runs with JetStream on (-js, or a
// jetstream block in its configuration) storing on its volume (-sd, or
// store_dir), a cluster name, its pod's name as server name (a restarted pod
// is the same Raft peer), routes to exactly the members and a cluster listen
// address, all authenticated.
func jetStreamClustered(m *Manifests, s *appsv1.StatefulSet) []string {
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	var found []string
	conf, _ := mountedConfigMapFile(m, pod, c, configFlag(c))
	dir := argAfter(c.Args, "-sd")
	if d := jetStreamStoreDir.FindStringSubmatch(conf); dir == "" && d != nil {
		dir = d[1]
	}
	switch {
	case !slices.Contains(c.Args, "-js") && !regexp.MustCompile(`(?m)^\s*jetstream\s*\{`).MatchString(conf):
		found = append(found, "nats-server runs without JetStream (-js): nothing is stored")
	case dir == "" || !onClaim(s, c, dir):
		found = append(found, fmt.Sprintf("JetStream's store directory %q is not on a volume of the StatefulSet's claims: a restart loses the stream", dir))
	}
	if argAfter(c.Args, "-cluster_name") == "" {
		found = append(found, "no -cluster_name: JetStream's cluster needs one")
	}
	if name := argAfter(c.Args, "-server_name"); expandVars(name, c, map[string]string{"metadata.name": "<pod>"}) != "<pod>" {
		found = append(found, fmt.Sprintf("-server_name %q is not the pod's name", name))
	}
	return append(found, routedToMembers(s, c)...)
}

var jetStreamStoreDir = regexp.MustCompile(`(?s)jetstream\s*\{[^}]*store_dir:\s*"?([^"\s]+)"?`)

// configFlag is the configuration file a NATS server is started with (-c).
func configFlag(c corev1.Container) string {
	if f := argAfter(c.Args, "-c"); f != "" {
		return f
	}
	return argAfter(c.Args, "--config")
}

// onClaim: dir is inside a mount of one of the StatefulSet's volume claims.
func onClaim(s *appsv1.StatefulSet, c corev1.Container, dir string) bool {
	for _, vm := range c.VolumeMounts {
		if dir != vm.MountPath && !strings.HasPrefix(dir, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, pvc := range s.Spec.VolumeClaimTemplates {
			if pvc.Name == vm.Name {
				return true
			}
		}
	}
	return false
}
