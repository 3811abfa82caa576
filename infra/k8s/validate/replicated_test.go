package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// named finds the object called name among items, or fails the test.
func named[T interface{ GetName() string }](t *testing.T, items []T, name string) T {
	t.Helper()
	for _, it := range items {
		if it.GetName() == name {
			return it
		}
	}
	t.Fatalf("no %T called %s", *new(T), name)
	return *new(T)
}

func statefulSetNamed(t *testing.T, m *Manifests, name string) *appsv1.StatefulSet {
	t.Helper()
	return named(t, m.StatefulSets, name)
}

func initContainer(t *testing.T, s *appsv1.StatefulSet, name string) *corev1.Container {
	t.Helper()
	for i := range s.Spec.Template.Spec.InitContainers {
		if s.Spec.Template.Spec.InitContainers[i].Name == name {
			return &s.Spec.Template.Spec.InitContainers[i]
		}
	}
	t.Fatalf("%s has no init container %s", s.Name, name)
	return nil
}

func setArg(c *corev1.Container, flag, value string) {
	withoutArg(c, flag)
	c.Args = append(c.Args, flag+"="+value)
}

func TestReplicatedStoresCheckCatches(t *testing.T) {
	check := func(m *Manifests) []string { return CheckReplicatedStores(m, singleStores) }
	for name, tc := range map[string]struct {
		breakIt func(t *testing.T, m *Manifests)
		want    []string
	}{
		"a database with one member": {func(t *testing.T, m *Manifests) {
			one := int32(1)
			statefulSetNamed(t, m, "auth-mongo").Spec.Replicas = &one
		}, []string{"StatefulSet/auth-mongo", "runs 1 members, fewer than 3"}},
		"members that may share a node": {func(t *testing.T, m *Manifests) {
			statefulSetNamed(t, m, "nats").Spec.Template.Spec.Affinity = nil
		}, []string{"StatefulSet/nats", "anti-affinity"}},
		"anti-affinity that is only preferred": {func(t *testing.T, m *Manifests) {
			aa := statefulSetNamed(t, m, "orders-mongo").Spec.Template.Spec.Affinity.PodAntiAffinity
			aa.RequiredDuringSchedulingIgnoredDuringExecution = nil
		}, []string{"StatefulSet/orders-mongo", "anti-affinity"}},
		"no disruption budget": {func(t *testing.T, m *Manifests) {
			m.PDBs = slices.DeleteFunc(m.PDBs, func(p *policyv1.PodDisruptionBudget) bool { return p.Name == "payments-mongo" })
		}, []string{"StatefulSet/payments-mongo", "0 disruption budgets"}},
		"a budget that lets the majority go": {func(t *testing.T, m *Manifests) {
			two := intstr.FromInt32(2)
			for _, p := range m.PDBs {
				if p.Name == "nats" {
					p.Spec.MaxUnavailable = &two
				}
			}
		}, []string{"StatefulSet/nats", "at most 1"}},
		"a standalone mongod": {func(t *testing.T, m *Manifests) {
			withoutArg(statefulSet(t, m, "tickets-mongo"), "--replSet")
		}, []string{"StatefulSet/tickets-mongo", "without --replSet"}},
		"a keyfile not from a secret": {func(t *testing.T, m *Manifests) {
			s := statefulSetNamed(t, m, "auth-mongo")
			s.Spec.Template.Spec.InitContainers = slices.DeleteFunc(s.Spec.Template.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == "keyfile" })
		}, []string{"StatefulSet/auth-mongo", "keyfile", "not from a secret"}},
		"a replica set initiated without a member": {func(t *testing.T, m *Manifests) {
			e := envVar(t, initContainer(t, statefulSetNamed(t, m, "orders-mongo"), "replset"), "MONGO_MEMBERS")
			e.Value = strings.Join(strings.Split(e.Value, ",")[:2], ",")
		}, []string{"StatefulSet/orders-mongo", "MONGO_MEMBERS", "are not the members"}},
		"a broker that is not clustered": {func(t *testing.T, m *Manifests) {
			withoutArg(statefulSet(t, m, "nats"), "-clustered")
		}, []string{"StatefulSet/nats", "without -clustered"}},
		"a broker peer missing": {func(t *testing.T, m *Manifests) {
			setArg(statefulSet(t, m, "nats"), "-cluster_peers", "nats-0,nats-1")
		}, []string{"StatefulSet/nats", "-cluster_peers"}},
		"a fixed node id": {func(t *testing.T, m *Manifests) {
			setArg(statefulSet(t, m, "nats"), "-cluster_node_id", "a")
		}, []string{"StatefulSet/nats", "not the pod's name"}},
		"routes anyone may join": {func(t *testing.T, m *Manifests) {
			setArg(statefulSet(t, m, "nats"), "-routes", "nats://nats-0.nats-cluster:6222,nats://nats-1.nats-cluster:6222,nats://nats-2.nats-cluster:6222")
		}, []string{"StatefulSet/nats", "carries no credentials"}},
		"a route password written down": {func(t *testing.T, m *Manifests) {
			setArg(statefulSet(t, m, "nats"), "-cluster", "nats://stan:secret@0.0.0.0:6222")
		}, []string{"StatefulSet/nats", "written in the manifests"}},
		"a Redis replica without the primary's password": {func(t *testing.T, m *Manifests) {
			withoutArg(statefulSet(t, m, "expiration-redis"), "--masterauth")
		}, []string{"StatefulSet/expiration-redis", "without --masterauth"}},
		"a Redis replica with a password written down": {func(t *testing.T, m *Manifests) {
			setArg(statefulSet(t, m, "expiration-redis"), "--masterauth", "hunter2")
		}, []string{"StatefulSet/expiration-redis", "--masterauth", "written in the manifests"}},
		"a Redis without sentinels": {func(t *testing.T, m *Manifests) {
			s := statefulSetNamed(t, m, "expiration-redis")
			s.Spec.Template.Spec.Containers = s.Spec.Template.Spec.Containers[:1]
		}, []string{"StatefulSet/expiration-redis", "no sentinel runs"}},
		"a sentinel quorum one member reaches alone": {func(t *testing.T, m *Manifests) {
			envVar(t, sentinel(t, m), "SENTINEL_QUORUM").Value = "1"
		}, []string{"StatefulSet/expiration-redis", "SENTINEL_QUORUM", "not a majority"}},
		"a sentinel that watches no name": {func(t *testing.T, m *Manifests) {
			envVar(t, sentinel(t, m), "REDIS_MASTER_NAME").Value = ""
		}, []string{"StatefulSet/expiration-redis", "no REDIS_MASTER_NAME"}},
		"a sentinel missing a member": {func(t *testing.T, m *Manifests) {
			e := envVar(t, sentinel(t, m), "REDIS_MEMBERS")
			e.Value = strings.Join(strings.Split(e.Value, ",")[:2], ",")
		}, []string{"StatefulSet/expiration-redis", "sentinel's REDIS_MEMBERS", "are not the members"}},
		"a restarted member that cannot ask the sentinels": {func(t *testing.T, m *Manifests) {
			envVar(t, statefulSet(t, m, "expiration-redis"), "REDIS_SENTINELS").Value = "expiration-redis-0.expiration-redis:26379"
		}, []string{"StatefulSet/expiration-redis", "redis's REDIS_SENTINELS", "are not the members"}},
		"a sentinel with another password": {func(t *testing.T, m *Manifests) {
			envVar(t, sentinel(t, m), "REDISCLI_AUTH").ValueFrom.SecretKeyRef.Name = "other"
		}, []string{"StatefulSet/expiration-redis", "the sentinel demands other/password"}},
	} {
		t.Run(name, func(t *testing.T) {
			m := renderProd(t)
			require.Empty(t, check(m), "the rendering passes before it is broken")
			tc.breakIt(t, m)
			assertProblem(t, check(m), tc.want...)
		})
	}
	t.Run("development is one pod per store", func(t *testing.T) {
		assertProblem(t, check(renderDev(t)), "StatefulSet/auth-mongo", "fewer than 3")
	})
	t.Run("a single store with a replica too many", func(t *testing.T) {
		m := renderDev(t)
		single := map[string]string{}
		for _, s := range m.StatefulSets {
			single[s.Name] = "development"
		}
		require.Empty(t, CheckReplicatedStores(m, single))
		three := int32(3)
		statefulSetNamed(t, m, "expiration-redis").Spec.Replicas = &three
		assertProblem(t, CheckReplicatedStores(m, single), "StatefulSet/expiration-redis", "single-instance store")
	})
}

// sentinel is the sentinel container of expiration's Redis.
func sentinel(t *testing.T, m *Manifests) *corev1.Container {
	t.Helper()
	cs := statefulSetNamed(t, m, "expiration-redis").Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == "sentinel" {
			return &cs[i]
		}
	}
	t.Fatal("expiration-redis runs no sentinel container")
	return nil
}

func TestStoreTopologyCheckCatches(t *testing.T) {
	for name, tc := range map[string]struct {
		dev     bool
		service string
		env     string
		value   string
		want    string
	}{
		"a replica set URI missing a member": {false, "auth", "MONGO_URI",
			"mongodb://auth:$(MONGO_PASSWORD)@auth-mongo-0.auth-mongo:27017,auth-mongo-1.auth-mongo:27017/auth?replicaSet=auth-mongo&retryWrites=true",
			"not every member of auth-mongo"},
		"a replica set URI without the set's name": {false, "orders", "MONGO_URI",
			"mongodb://orders:$(MONGO_PASSWORD)@orders-mongo-0.orders-mongo:27017,orders-mongo-1.orders-mongo:27017,orders-mongo-2.orders-mongo:27017/orders?retryWrites=true",
			"does not name replica set orders-mongo"},
		"a replica set URI without retryable writes": {false, "payments", "MONGO_URI",
			"mongodb://payments:$(MONGO_PASSWORD)@payments-mongo-0.payments-mongo:27017,payments-mongo-1.payments-mongo:27017,payments-mongo-2.payments-mongo:27017/payments?replicaSet=payments-mongo",
			"retryWrites=true"},
		"the replica set through its Service alone": {false, "tickets", "MONGO_URI",
			"mongodb://tickets:$(MONGO_PASSWORD)@tickets-mongo:27017/tickets", "not every member of tickets-mongo"},
		"one broker node": {false, "expiration", "NATS_URL", "nats://nats:4222", "not every member of nats"},
		"sentinels missing a member": {false, "expiration", "REDIS_SENTINELS",
			"expiration-redis-0.expiration-redis:26379,expiration-redis-1.expiration-redis:26379",
			"not the sentinel of every member of expiration-redis"},
		"the members' Redis port for sentinels": {false, "expiration", "REDIS_SENTINELS",
			"expiration-redis-0.expiration-redis:6379,expiration-redis-1.expiration-redis:6379,expiration-redis-2.expiration-redis:6379",
			"not the sentinel of every member"},
		"sentinels that are not host:port": {false, "expiration", "REDIS_SENTINELS",
			"redis://expiration-redis:26379", "is not host:port"},
		"another master name": {false, "expiration", "REDIS_MASTER_NAME", "mymaster",
			`REDIS_MASTER_NAME is "mymaster", not the name expiration-redis's sentinels watch ("expiration")`},
		"a member in development": {true, "auth", "MONGO_URI",
			"mongodb://auth:$(MONGO_PASSWORD)@auth-mongo-0.auth-mongo:27017/auth", "auth-mongo is one pod"},
		"a replica set name in development": {true, "auth", "MONGO_URI",
			"mongodb://auth:$(MONGO_PASSWORD)@auth-mongo:27017/auth?replicaSet=auth-mongo", "auth-mongo is one pod"},
	} {
		t.Run(name, func(t *testing.T) {
			m := renderProd(t)
			if tc.dev {
				m = renderDev(t)
			}
			require.Empty(t, CheckStoreTopology(m))
			envVar(t, container(t, m, tc.service), tc.env).Value = tc.value
			assertProblem(t, CheckStoreTopology(m), "Deployment/"+tc.service, tc.env, tc.want)
		})
	}
}

func TestNetworkPoliciesLetReplicaSetMembersTalk(t *testing.T) {
	m := renderProd(t)
	require.Empty(t, CheckNetwork(m))
	policy(t, m, "auth-mongo").Spec.Egress = nil
	assertProblem(t, CheckNetwork(m), "needed but denied", "auth-mongo", "auth-mongo", "27017")
	m = renderProd(t)
	policy(t, m, "nats").Spec.Ingress = policy(t, m, "nats").Spec.Ingress[:1]
	assertProblem(t, CheckNetwork(m), "needed but denied", "nats", "6222")
}

// A replicated Redis is reached through its sentinels, never one server, and
// a single-pod one through its Service, never sentinels it does not run.
func TestRedisTopologyCheckCatches(t *testing.T) {
	m := renderProd(t)
	c := container(t, m, "expiration")
	c.Env = append(c.Env, corev1.EnvVar{Name: "REDIS_URL", Value: "redis://:$(REDIS_PASSWORD)@expiration-redis-0.expiration-redis:6379/0"})
	assertProblem(t, CheckStoreTopology(m), "Deployment/expiration", "REDIS_URL names one server of expiration-redis", "REDIS_SENTINELS")

	m = renderDev(t)
	c = container(t, m, "expiration")
	c.Env = append(c.Env, corev1.EnvVar{Name: "REDIS_SENTINELS", Value: "expiration-redis-0.expiration-redis:26379"}, corev1.EnvVar{Name: "REDIS_MASTER_NAME", Value: "expiration"})
	assertProblem(t, CheckStoreTopology(m), "Deployment/expiration", "runs no sentinels")
}

func TestRedisSentinelAuthCheckCatches(t *testing.T) {
	m := renderProd(t)
	require.Empty(t, CheckStoreAuth(m))
	envVar(t, container(t, m, "expiration"), "REDIS_PASSWORD").ValueFrom.SecretKeyRef.Key = "other"
	assertProblem(t, CheckStoreAuth(m), "Deployment/expiration", "REDIS_PASSWORD is expiration-redis/other", "not the secret expiration-redis demands")

	m = renderProd(t)
	c := container(t, m, "expiration")
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "REDIS_PASSWORD" })
	assertProblem(t, CheckStoreAuth(m), "Deployment/expiration", "without a REDIS_PASSWORD from a secret")
}

func TestSentinelsStandInForRedisURLOnlyWhole(t *testing.T) {
	r := theRepo(t)
	m := renderProd(t)
	require.Empty(t, CheckEnv(m, r.skaffold, r.required))
	c := container(t, m, "expiration")
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "REDIS_MASTER_NAME" })
	assertProblem(t, CheckEnv(m, r.skaffold, r.required), "Deployment/expiration", "REDIS_SENTINELS stands in for REDIS_URL", "REDIS_MASTER_NAME is not set")
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "REDIS_SENTINELS" })
	assertProblem(t, CheckEnv(m, r.skaffold, r.required), "Deployment/expiration", "required REDIS_URL is not set")
}

func TestNetworkPoliciesLetRedisMembersAndSentinelsTalk(t *testing.T) {
	m := renderProd(t)
	require.Empty(t, CheckNetwork(m))
	p := policy(t, m, "expiration-redis")
	p.Spec.Egress[0].Ports = p.Spec.Egress[0].Ports[:1]
	assertProblem(t, CheckNetwork(m), "needed but denied", "expiration-redis -> expiration-redis", "26379")
	m = renderProd(t)
	p = policy(t, m, "expiration")
	p.Spec.Egress[0].Ports = p.Spec.Egress[0].Ports[:1]
	assertProblem(t, CheckNetwork(m), "needed but denied", "expiration -> expiration-redis", "26379")
}

func TestParseURLListReadsEveryServer(t *testing.T) {
	urls, err := ParseURLList("mongodb://u:p@a-0.a:27017,a-1.a:27017/db?replicaSet=a")
	require.NoError(t, err)
	require.Len(t, urls, 2)
	assert.Equal(t, "a-1.a", urls[1].Hostname())
	assert.Equal(t, "/db", urls[1].Path)
	assert.Equal(t, "a", urls[1].Query().Get("replicaSet"))
	urls, err = ParseURLList("nats://n-0.c:4222,nats://n-1.c:4222")
	require.NoError(t, err)
	assert.Equal(t, []string{"n-0.c", "n-1.c"}, []string{urls[0].Hostname(), urls[1].Hostname()})
	assert.Equal(t, "a", StoreOfHost("a-1.a"))
	assert.Equal(t, "nats", StoreOfHost("nats"))
}

func TestRedisKeepsADayOfHoldsAndRefusesRatherThanEvicts(t *testing.T) {
	for _, c := range renders(t) {
		min := int64(0)
		if c.Overlay == "prod" {
			min = HoldsPerDay * BytesPerHold
		}
		assert.Empty(t, CheckQueueCap(c.M, min), c.Name)
	}
	// The per-job figure is the one expiration's sizing test holds a job to.
	src, err := os.ReadFile(filepath.Join(theRepo(t).root, "expiration", "internal", "store", "sizing_test.go"))
	require.NoError(t, err)
	assert.Contains(t, string(src), fmt.Sprintf("const bytesPerHoldBudget = %d\n", BytesPerHold))
	assert.Equal(t, int64(512<<20), redisBytes("512mb"))
	assert.Equal(t, int64(2e9), redisBytes("2g"))
}

func TestQueueCapCheckCatches(t *testing.T) {
	day := int64(HoldsPerDay * BytesPerHold)
	for name, tc := range map[string]struct {
		flag, value, want string
	}{
		"eviction":          {"--maxmemory-policy", "allkeys-lru", "not noeviction"},
		"no persistence":    {"--appendonly", "no", "--appendonly is not yes"},
		"a cap above limit": {"--maxmemory", "2gb", "not below the memory limit"},
		"a cap too small":   {"--maxmemory", "200mb", "less than a day of holds"},
	} {
		t.Run(name, func(t *testing.T) {
			m := renderProd(t)
			require.Empty(t, CheckQueueCap(m, day))
			c := statefulSet(t, m, "expiration-redis")
			for i := range c.Args {
				if c.Args[i] == tc.flag {
					c.Args[i+1] = tc.value
				}
			}
			assertProblem(t, CheckQueueCap(m, day), "StatefulSet/expiration-redis", tc.want)
		})
	}
}
