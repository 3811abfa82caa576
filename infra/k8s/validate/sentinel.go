package validate

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Redis replicated with Sentinel: in production expiration's Redis is a
// primary and replicas, each member with a sentinel beside it, and
// expiration connects through the sentinels (REDIS_SENTINELS,
// REDIS_MASTER_NAME, REDIS_PASSWORD; expiration/README.md).

// SentinelPort is where a sentinel listens.
const SentinelPort = 26379

// hostPortVars hold comma-separated host:port lists, not URLs: the
// sentinels a client asks (REDIS_SENTINELS) and a Redis set's members
// (REDIS_MEMBERS, which the members' start script and sentinels read).
var hostPortVars = map[string]bool{"REDIS_SENTINELS": true, "REDIS_MEMBERS": true}

// ParseHostPorts reads a comma-separated list of host:port.
func ParseHostPorts(v string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(v, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(part))
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q is not host:port", part)
		}
		if _, err := strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("%q is not host:port", part)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// hostPortURLs are a host:port list's servers as redis:// URLs. A client of
// REDIS_SENTINELS reaches each sentinel and, since the sentinels may name
// any member the primary, each member's Redis on the same host.
func hostPortURLs(name, v string) []*url.URL {
	addrs, err := ParseHostPorts(v)
	if err != nil {
		return nil
	}
	var out []*url.URL
	for _, a := range addrs {
		out = append(out, &url.URL{Scheme: "redis", Host: a})
		if name == "REDIS_SENTINELS" {
			host, _, _ := net.SplitHostPort(a)
			out = append(out, &url.URL{Scheme: "redis", Host: net.JoinHostPort(host, fmt.Sprint(defaultPorts["redis"]))})
		}
	}
	return out
}

// sentinelContainer is the container of a Redis pod that runs a sentinel.
func sentinelContainer(pod corev1.PodSpec) (corev1.Container, bool) {
	for _, c := range pod.Containers[1:] {
		for _, a := range append(append([]string(nil), c.Command...), c.Args...) {
			if a == "--sentinel" || a == "sentinel" || strings.HasSuffix(a, "redis-sentinel") {
				return c, true
			}
		}
	}
	return corev1.Container{}, false
}

// sentinelConfigured: a replicated Redis's replicas authenticate to the
// primary with the secret its clients use (--masterauth); a sentinel runs
// beside every member, watching the set under a name, with a quorum that is
// a majority of the members, knowing every member and every sentinel
// (REDIS_MEMBERS, REDIS_SENTINELS), and demanding the same secret; the
// Redis container knows the sentinels too, so a member that restarts after
// a failover asks them for the primary instead of starting as a second one.
func sentinelConfigured(s *appsv1.StatefulSet) []string {
	pod := s.Spec.Template.Spec
	c := pod.Containers[0]
	var found []string
	requirepass, _ := passwordFromSecret(c, argAfter(c.Args, "--requirepass"), "--requirepass")
	if auth := argAfter(c.Args, "--masterauth"); auth == "" {
		found = append(found, "Redis runs without --masterauth: a replica cannot authenticate to its primary")
	} else if key, problem := passwordFromSecret(c, auth, "--masterauth"); problem != "" {
		found = append(found, problem)
	} else if key != requirepass {
		found = append(found, fmt.Sprintf("--masterauth is %s, not the secret --requirepass demands (%s)", key, requirepass))
	}
	sc, ok := sentinelContainer(pod)
	if !ok {
		return append(found, "no sentinel runs beside the members: nothing promotes a replica when the primary goes")
	}
	env, _ := envByName(sc)
	if env["REDIS_MASTER_NAME"].Value == "" {
		found = append(found, "the sentinel watches no REDIS_MASTER_NAME")
	}
	if q, want := env["SENTINEL_QUORUM"].Value, fmt.Sprint(replicasOf(s)/2+1); q != want {
		found = append(found, fmt.Sprintf("SENTINEL_QUORUM is %q, not a majority of the members (%s)", q, want))
	}
	if key, problem := passwordFromSecret(sc, "$(REDISCLI_AUTH)", "the sentinel"); problem != "" {
		found = append(found, problem)
	} else if key != requirepass {
		found = append(found, fmt.Sprintf("the sentinel demands %s, not the set's secret %s", key, requirepass))
	}
	found = append(found, listsMembers(sc, s, "REDIS_MEMBERS", defaultPorts["redis"])...)
	for _, ct := range []corev1.Container{sc, c} {
		found = append(found, listsMembers(ct, s, "REDIS_SENTINELS", SentinelPort)...)
	}
	return found
}

// listsMembers: c's variable name lists every member of s on port, once.
func listsMembers(c corev1.Container, s *appsv1.StatefulSet, name string, port int32) []string {
	env, _ := envByName(c)
	var want []string
	for _, h := range members(s) {
		want = append(want, net.JoinHostPort(h, fmt.Sprint(port)))
	}
	got, err := ParseHostPorts(env[name].Value)
	if err != nil || !sameSet(got, want) {
		return []string{fmt.Sprintf("%s's %s %q are not the members %s", c.Name, name, env[name].Value, strings.Join(want, ","))}
	}
	return nil
}

// sentinelTopology: a service's REDIS_SENTINELS name a replicated Redis's
// sentinels, every member's once, with the name they watch the primary
// under; a single-pod Redis has no sentinels and is named by REDIS_URL.
func (m *Manifests) sentinelTopology(env map[string]corev1.EnvVar) string {
	addrs, err := ParseHostPorts(env["REDIS_SENTINELS"].Value)
	if err != nil {
		return "REDIS_SENTINELS: " + err.Error()
	}
	host, _, _ := net.SplitHostPort(addrs[0])
	s := m.statefulSetNamed(StoreOfHost(host))
	if s == nil {
		return "" // CheckNetwork names a host nothing serves
	}
	sc, ok := sentinelContainer(s.Spec.Template.Spec)
	if replicasOf(s) == 1 || !ok {
		return fmt.Sprintf("REDIS_SENTINELS names %s, which runs no sentinels: name its Service in REDIS_URL", s.Name)
	}
	var want []string
	for _, h := range members(s) {
		want = append(want, net.JoinHostPort(h, fmt.Sprint(SentinelPort)))
	}
	if len(addrs) != len(want) || !sameSet(addrs, want) {
		return fmt.Sprintf("REDIS_SENTINELS lists %v, not the sentinel of every member of %s: %v", addrs, s.Name, want)
	}
	scEnv, _ := envByName(sc)
	if got, set := env["REDIS_MASTER_NAME"].Value, scEnv["REDIS_MASTER_NAME"].Value; got != set {
		return fmt.Sprintf("REDIS_MASTER_NAME is %q, not the name %s's sentinels watch (%q)", got, s.Name, set)
	}
	return ""
}

func (m *Manifests) statefulSetNamed(name string) *appsv1.StatefulSet {
	for _, s := range m.StatefulSets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// sentinelCredentials: beside REDIS_SENTINELS, REDIS_PASSWORD comes from the
// secret key the set's Redis demands.
func sentinelCredentials(env map[string]corev1.EnvVar, stores map[string]store) string {
	addrs, err := ParseHostPorts(env["REDIS_SENTINELS"].Value)
	if err != nil {
		return "" // CheckStoreTopology says so
	}
	host, _, _ := net.SplitHostPort(addrs[0])
	st, ok := stores[StoreOfHost(host)]
	if !ok {
		return ""
	}
	ref := secretRef(env["REDIS_PASSWORD"])
	if ref == nil || isTrue(ref.Optional) {
		return "REDIS_SENTINELS without a REDIS_PASSWORD from a secret: the set refuses a client without"
	}
	if want := st.users[""]; want != (secretKey{ref.Name, ref.Key}) {
		return fmt.Sprintf("REDIS_PASSWORD is %s/%s, not the secret %s demands (%s)", ref.Name, ref.Key, StoreOfHost(host), want)
	}
	return ""
}

// satisfiedBy are the variables that may stand in for a required one: a
// replicated Redis is reached through its sentinels instead of REDIS_URL.
var satisfiedBy = map[string][]string{"REDIS_URL": {"REDIS_SENTINELS", "REDIS_MASTER_NAME", "REDIS_PASSWORD"}}
