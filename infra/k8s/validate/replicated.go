package validate

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Replicated stores: each MongoDB a replica set and NATS Streaming a Raft
// cluster in production, one pod each in development, and every connection
// string naming exactly the members its store has.

// MinMembers is the smallest replicated store DESIGN.md §6 allows: three
// members keep a majority through the loss of one.
const MinMembers = 3

// ParseURLList reads a connection string that may name several servers: a
// mongodb:// URI with a comma-separated host list, or a comma-separated list
// of URLs (NATS_URL, as nats.go reads it). It returns one URL per server,
// each with the credentials, path and query of the whole.
func ParseURLList(v string) ([]*url.URL, error) {
	if strings.HasPrefix(v, "mongodb://") {
		u, err := url.Parse(v)
		if err != nil {
			return nil, err
		}
		var out []*url.URL
		for _, h := range strings.Split(u.Host, ",") {
			one := *u
			one.Host = h
			out = append(out, &one)
		}
		return out, nil
	}
	var out []*url.URL
	for _, part := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

var memberLabel = regexp.MustCompile(`^(.+)-(\d+)$`)

// StoreOfHost names the StatefulSet a host belongs to: a Service name
// (auth-mongo, nats) stands for itself, a member's DNS name (auth-mongo-1.auth-mongo,
// nats-0.nats-cluster) for its StatefulSet.
func StoreOfHost(host string) string {
	first, rest, _ := strings.Cut(host, ".")
	if m := memberLabel.FindStringSubmatch(first); m != nil && rest != "" {
		return m[1]
	}
	return first
}

// memberOf resolves a StatefulSet member's DNS name (<set>-<i>.<serviceName>,
// optionally followed by the namespace) to its StatefulSet, when i is below
// its replicas and serviceName is its governing Service.
func (m *Manifests) memberOf(host string) (*appsv1.StatefulSet, bool) {
	first, rest, _ := strings.Cut(host, ".")
	svc, ns, _ := strings.Cut(rest, ".")
	if ns != "" && ns != m.Namespace && !strings.HasPrefix(ns, m.Namespace+".svc") {
		return nil, false
	}
	match := memberLabel.FindStringSubmatch(first)
	if match == nil {
		return nil, false
	}
	i, _ := strconv.Atoi(match[2])
	for _, s := range m.StatefulSets {
		if s.Name == match[1] && s.Spec.ServiceName == svc && int32(i) < replicasOf(s) {
			return s, true
		}
	}
	return nil, false
}

func replicasOf(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// members are the DNS names of a StatefulSet's pods, as its governing
// Service publishes them.
func members(s *appsv1.StatefulSet) []string {
	var out []string
	for i := range replicasOf(s) {
		out = append(out, fmt.Sprintf("%s-%d.%s", s.Name, i, s.Spec.ServiceName))
	}
	return out
}

// CheckReplicatedStores: every store StatefulSet not in single runs at least
// MinMembers members, each on its own node (required pod anti-affinity on
// kubernetes.io/hostname), under one PodDisruptionBudget that lets one go and
// keeps a majority, and is configured as one replicated store: mongod with
// --replSet and a keyfile from a secret, its replset sidecar listing every
// member; NATS Streaming clustered with every member a peer and a route, the
// routes authenticated with a password from a secret; JetStream's nodes routed
// to each other the same way, JetStream on and stored on their volumes; Redis
// with a sentinel beside every member (sentinelConfigured). A store in single (with
// why) runs one pod and has no budget, which could only block node drains.
func CheckReplicatedStores(m *Manifests, single map[string]string) []string {
	var problems []string
	for _, s := range m.StatefulSets {
		st, _ := storeOf(m, s)
		if st.kind == "" {
			continue
		}
		w := Workload{"StatefulSet", s.Name, s.Labels, s.Spec.Replicas, s.Spec.Selector, s.Spec.Template}
		if _, ok := single[s.Name]; ok {
			problems = append(problems, singleInstance(w, budgetsOf(m, w))...)
			continue
		}
		var found []string
		if n := replicasOf(s); n < MinMembers {
			found = append(found, fmt.Sprintf("runs %d members, fewer than %d: losing one loses the store", n, MinMembers))
		}
		found = append(found, spreadAcrossNodes(s)...)
		found = append(found, budgetKeepsMajority(m, w)...)
		switch st.kind {
		case "mongo":
			found = append(found, replicaSetConfigured(s)...)
		case kindStan:
			found = append(found, brokerClustered(s)...)
		case "redis":
			found = append(found, sentinelConfigured(s)...)
		case kindJetStream:
			found = append(found, jetStreamClustered(m, s)...)
		}
		problems = append(problems, prefixed(w.ID()+": ", found)...)
	}
	return problems
}

// spreadAcrossNodes: the scheduler must put each member on a node of its own.
func spreadAcrossNodes(s *appsv1.StatefulSet) []string {
	aa := s.Spec.Template.Spec.Affinity
	if aa != nil && aa.PodAntiAffinity != nil {
		for _, term := range aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == "kubernetes.io/hostname" && term.LabelSelector != nil && selects(term.LabelSelector, s.Spec.Template.Labels) {
				return nil
			}
		}
	}
	return []string{"no required pod anti-affinity on kubernetes.io/hostname against its own pods: two members may share a node, and that node takes the majority with it"}
}

// budgetKeepsMajority: exactly one budget, letting a drain evict one member
// and never so many that the rest lose their majority.
func budgetKeepsMajority(m *Manifests, w Workload) []string {
	budgets := budgetsOf(m, w)
	if len(budgets) != 1 {
		return []string{fmt.Sprintf("has %d disruption budgets, want 1", len(budgets))}
	}
	pdb, n := budgets[0], *w.Replicas
	if !allowsOneEviction(pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable, n) {
		return []string{fmt.Sprintf("PodDisruptionBudget %s never lets a member go", pdb.Name)}
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() > int(n-1)/2 {
		return []string{fmt.Sprintf("PodDisruptionBudget %s must set maxUnavailable to at most %d, so a drain keeps a majority", pdb.Name, (n-1)/2)}
	}
	return nil
}

// replicaSetConfigured: mongod runs as a member of a replica set with a
// keyfile that comes from a secret, and the replset sidecar that initiates
// the set lists exactly the StatefulSet's members.
func replicaSetConfigured(s *appsv1.StatefulSet) []string {
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	var found []string
	if expandVars(argAfter(c.Args, "--replSet"), c, s.Spec.Template.Labels) == "" {
		found = append(found, "mongod runs without --replSet: a standalone server")
	}
	keyFile := argAfter(c.Args, "--keyFile")
	if keyFile == "" {
		found = append(found, "mongod runs without --keyFile: members would not authenticate each other")
	} else if !fromSecretVolume(pod, c, keyFile) {
		found = append(found, fmt.Sprintf("the keyfile %s is not from a secret (a secret volume, or an init container's copy of one)", keyFile))
	}
	want := make([]string, 0, replicasOf(s))
	for _, h := range members(s) {
		want = append(want, h+":27017")
	}
	for _, ic := range pod.InitContainers {
		env, _ := envByName(ic)
		if e, ok := env["MONGO_MEMBERS"]; ok {
			if !sameSet(strings.Split(e.Value, ","), want) {
				found = append(found, fmt.Sprintf("%s's MONGO_MEMBERS %s are not the members %s", ic.Name, e.Value, strings.Join(want, ",")))
			}
			return found
		}
	}
	return append(found, "no init container initiates the replica set (MONGO_MEMBERS)")
}

// fromSecretVolume: file is in a volume that is a secret, or an emptyDir an
// init container fills while it also mounts a secret.
func fromSecretVolume(pod corev1.PodSpec, c corev1.Container, file string) bool {
	vol := mountedVolume(pod, c, file)
	if vol == nil {
		return false
	}
	if vol.Secret != nil {
		return true
	}
	for _, ic := range pod.InitContainers {
		fills, fromSecret := false, false
		for _, vm := range ic.VolumeMounts {
			v := volumeNamed(pod, vm.Name)
			fills = fills || (vm.Name == vol.Name && !vm.ReadOnly)
			fromSecret = fromSecret || (v != nil && v.Secret != nil)
		}
		if fills && fromSecret {
			return true
		}
	}
	return false
}

func mountedVolume(pod corev1.PodSpec, c corev1.Container, file string) *corev1.Volume {
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			return volumeNamed(pod, vm.Name)
		}
	}
	return nil
}

func volumeNamed(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

// brokerClustered: NATS Streaming runs clustered, each pod its own node id,
// every member a peer and a route, the routes authenticated.
func brokerClustered(s *appsv1.StatefulSet) []string {
	c := s.Spec.Template.Spec.Containers[0]
	var found []string
	if !slices.Contains(c.Args, "-clustered") && argAfter(c.Args, "-clustered") != "true" {
		found = append(found, "NATS Streaming runs without -clustered: nothing is replicated")
	}
	if id := argAfter(c.Args, "-cluster_node_id"); expandVars(id, c, map[string]string{"metadata.name": "<pod>"}) != "<pod>" {
		found = append(found, fmt.Sprintf("-cluster_node_id %q is not the pod's name", id))
	}
	var peers []string
	for i := range replicasOf(s) {
		peers = append(peers, fmt.Sprintf("%s-%d", s.Name, i))
	}
	if got := strings.Split(argAfter(c.Args, "-cluster_peers"), ","); !sameSet(got, peers) {
		found = append(found, fmt.Sprintf("-cluster_peers %v are not the members %v", got, peers))
	}
	return append(found, routedToMembers(s, c)...)
}

// routedToMembers: a NATS server's routes (-routes) are exactly the
// StatefulSet's members and it listens for theirs (-cluster), every URL with
// credentials from a secret. NATS Streaming and JetStream cluster alike.
func routedToMembers(s *appsv1.StatefulSet, c corev1.Container) []string {
	var found []string
	routes, err := ParseURLList(argAfter(c.Args, "-routes"))
	var hosts []string
	for _, r := range routes {
		hosts = append(hosts, r.Hostname())
		found = appendIf(found, routeCredentials(c, r))
	}
	if err != nil || !sameSet(hosts, members(s)) {
		found = append(found, fmt.Sprintf("-routes %v are not the members %v", hosts, members(s)))
	}
	if listen, err := url.Parse(argAfter(c.Args, "-cluster")); err != nil || listen.Host == "" {
		found = append(found, "no -cluster address for the routes to connect to")
	} else {
		found = appendIf(found, routeCredentials(c, listen))
	}
	return found
}

// routeCredentials: a route URL carries a password that is a variable from a
// secret, so only the broker's own members join the cluster.
func routeCredentials(c corev1.Container, u *url.URL) string {
	pw, ok := u.User.Password()
	if u.User == nil || !ok {
		return fmt.Sprintf("route %s carries no credentials: anyone reaching the port joins the cluster", u.Host)
	}
	if _, problem := passwordFromSecret(c, pw, "route "+u.Host); problem != "" {
		return problem
	}
	return ""
}

// expandVars substitutes $(VAR) in v with the container's variable: its value,
// or for a fieldRef the entry fields has for its path (a label's value for
// metadata.labels['k'] when fields are the pod's labels).
func expandVars(v string, c corev1.Container, fields map[string]string) string {
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(v, func(ref string) string {
		env, _ := envByName(c)
		e := env[ref[2:len(ref)-1]]
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			path := e.ValueFrom.FieldRef.FieldPath
			if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
				return fields[strings.TrimSuffix(k, "']")]
			}
			return fields[path]
		}
		return e.Value
	})
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// CheckStoreTopology: every service's MONGO_URI, NATS_URL, REDIS_URL and
// REDIS_SENTINELS matches the topology of the store it names: the one
// Service of a single-pod store; every member of a replicated one, each
// once, for a replica set its name (replicaSet=) and retryable writes, for a
// replicated Redis its sentinels and the name they watch it under.
func CheckStoreTopology(m *Manifests) []string {
	var problems []string
	for _, d := range m.Deployments {
		c := d.Spec.Template.Spec.Containers[0]
		env, _ := envByName(c)
		var found []string
		for _, name := range []string{"MONGO_URI", "NATS_URL", "REDIS_URL"} {
			if e, ok := env[name]; ok {
				found = appendIf(found, m.topologyOf(e))
			}
		}
		if _, ok := env["REDIS_SENTINELS"]; ok {
			found = appendIf(found, m.sentinelTopology(env))
		}
		problems = append(problems, prefixed(fmt.Sprintf("Deployment/%s/%s: ", d.Name, c.Name), found)...)
	}
	return problems
}

func (m *Manifests) topologyOf(e corev1.EnvVar) string {
	urls, err := ParseURLList(e.Value)
	if err != nil || len(urls) == 0 {
		return fmt.Sprintf("%s does not parse", e.Name)
	}
	var s *appsv1.StatefulSet
	for _, st := range m.StatefulSets {
		if st.Name == StoreOfHost(urls[0].Hostname()) {
			s = st
		}
	}
	if s == nil {
		return "" // CheckNetwork names a host nothing serves
	}
	hosts := make([]string, len(urls))
	for i, u := range urls {
		hosts[i] = u.Hostname()
	}
	query := urls[0].Query()
	if replicasOf(s) == 1 {
		return onePod(e.Name, hosts, query.Has("replicaSet"), s.Name)
	}
	if urls[0].Scheme == "redis" {
		return fmt.Sprintf("%s names one server of %s, whose primary moves on a failover: name its sentinels in REDIS_SENTINELS", e.Name, s.Name)
	}
	if want := members(s); len(hosts) != len(want) || !sameSet(hosts, want) {
		return fmt.Sprintf("%s lists %v, not every member of %s: %v", e.Name, hosts, s.Name, want)
	}
	if urls[0].Scheme == "mongodb" {
		set := expandVars(argAfter(s.Spec.Template.Spec.Containers[0].Args, "--replSet"), s.Spec.Template.Spec.Containers[0], s.Spec.Template.Labels)
		if query.Get("replicaSet") != set || query.Get("retryWrites") != "true" {
			return fmt.Sprintf("%s does not name replica set %s with retryWrites=true (replicaSet=%q retryWrites=%q)", e.Name, set, query.Get("replicaSet"), query.Get("retryWrites"))
		}
	}
	return ""
}

// urlFlows are a container's connections to each server a URL list names.
func (m *Manifests) urlFlows(pods map[string]*Endpoint, src *Endpoint, urls []*url.URL) ([]Flow, []string) {
	var flows []Flow
	var problems []string
	for _, u := range urls {
		if u.Scheme == "" || u.Host == "" {
			continue
		}
		if s, ok := m.memberOf(u.Hostname()); ok {
			// A member's own name reaches it through its governing Service.
			u = &url.URL{Scheme: u.Scheme, Host: s.Spec.ServiceName + ":" + cmp.Or(u.Port(), fmt.Sprint(defaultPorts[u.Scheme]))}
		}
		to, port, problem := m.resolve(pods, u)
		if problem != "" {
			problems = append(problems, problem)
			continue
		}
		for _, t := range to {
			flows = append(flows, Flow{src, t, port, corev1.ProtocolTCP})
		}
	}
	return flows, problems
}

// memberFlows are the connections between the members of a replicated store,
// as its configuration names them: the replica set's members (MONGO_MEMBERS,
// which the set's configuration and its sidecar use) and the broker's routes.
// A member unreachable by those names is a problem CheckReplicatedStores and
// CheckStoreTopology report.
func (m *Manifests) memberFlows(pods map[string]*Endpoint) []Flow {
	var flows []Flow
	for _, s := range m.StatefulSets {
		var urls []*url.URL
		for _, c := range allContainers(s.Spec.Template.Spec) {
			env, _ := envByName(c)
			for _, h := range strings.Split(env["MONGO_MEMBERS"].Value, ",") {
				if h != "" {
					urls = append(urls, &url.URL{Scheme: "mongodb", Host: h})
				}
			}
			for name := range hostPortVars {
				urls = append(urls, hostPortURLs(name, env[name].Value)...)
			}
			if routes, err := ParseURLList(argAfter(c.Args, "-routes")); err == nil {
				urls = append(urls, routes...)
			}
		}
		f, _ := m.urlFlows(pods, pods[s.Name], urls)
		flows = append(flows, f...)
	}
	return flows
}

// onePod: a single-pod store is named by its Service alone, with no replica
// set the driver would wait for.
func onePod(variable string, hosts []string, replicaSet bool, store string) string {
	if len(hosts) != 1 || hosts[0] != StoreOfHost(hosts[0]) || replicaSet {
		return fmt.Sprintf("%s lists %v, but %s is one pod: name its Service alone", variable, hosts, store)
	}
	return ""
}

// HoldsPerDay and BytesPerHold size expiration's Redis in production
// (docs/kubernetes.md, "Redis in production"): 5 orders a second around the
// clock, each job kept for asynq's 24 h retention, at the 1 KiB per job that
// expiration/internal/store's sizing test holds a job to.
const (
	HoldsPerDay  = 5 * 24 * 60 * 60
	BytesPerHold = 1024
)

// CheckQueueCap: Redis, which holds expiration's jobs, keeps them on disk
// (appendonly yes), refuses writes rather than dropping jobs at its cap
// (noeviction), and has a cap below its container's memory limit (else the
// kernel kills it before it refuses anything) and of at least minBytes.
func CheckQueueCap(m *Manifests, minBytes int64) []string {
	var problems []string
	for _, s := range m.StatefulSets {
		c := s.Spec.Template.Spec.Containers[0]
		if st, _ := storeOf(m, s); st.kind != "redis" {
			continue
		}
		var found []string
		if argAfter(c.Args, "--appendonly") != "yes" {
			found = append(found, "--appendonly is not yes: a restart loses every hold")
		}
		if p := argAfter(c.Args, "--maxmemory-policy"); p != "noeviction" {
			found = append(found, fmt.Sprintf("--maxmemory-policy is %q, not noeviction: at the cap Redis would drop jobs", p))
		}
		limit := c.Resources.Limits.Memory().Value()
		switch max := redisBytes(argAfter(c.Args, "--maxmemory")); {
		case max <= 0:
			found = append(found, "no --maxmemory: Redis grows until the kernel kills it")
		case max >= limit:
			found = append(found, fmt.Sprintf("--maxmemory %d B is not below the memory limit %d B", max, limit))
		case max < minBytes:
			found = append(found, fmt.Sprintf("--maxmemory %d B holds less than a day of holds (%d B)", max, minBytes))
		}
		problems = append(problems, prefixed("StatefulSet/"+s.Name+": ", found)...)
	}
	return problems
}

// redisBytes reads a Redis memory size: 1k = 1000, 1kb = 1024, and so on.
func redisBytes(v string) int64 {
	v = strings.ToLower(v)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"", 1}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			if i, err := strconv.ParseInt(n, 10, 64); err == nil {
				return i * u.factor
			}
			return 0
		}
	}
	return 0
}
