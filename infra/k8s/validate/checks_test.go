package validate

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Each check must catch the mistake it exists for: break a freshly rendered
// overlay in one place and the check names that place.

func container(t *testing.T, m *Manifests, deployment string) *corev1.Container {
	t.Helper()
	d := m.Deployment(deployment)
	require.NotNil(t, d, deployment)
	return &d.Spec.Template.Spec.Containers[0]
}

func envVar(t *testing.T, c *corev1.Container, name string) *corev1.EnvVar {
	t.Helper()
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	t.Fatalf("%s has no %s", c.Name, name)
	return nil
}

func withoutEnv(c *corev1.Container, name string) {
	var kept []corev1.EnvVar
	for _, e := range c.Env {
		if e.Name != name {
			kept = append(kept, e)
		}
	}
	c.Env = kept
}

func policy(t *testing.T, m *Manifests, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, np := range m.NetworkPolicies {
		if np.Name == name {
			return np
		}
	}
	t.Fatalf("no NetworkPolicy %s", name)
	return nil
}

// assertProblem wants a problem containing every fragment.
func assertProblem(t *testing.T, problems []string, fragments ...string) {
	t.Helper()
	for _, p := range problems {
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(p, f)
		}
		if all {
			return
		}
	}
	t.Errorf("no problem mentions %q; got %q", fragments, problems)
}

func TestHardeningCatches(t *testing.T) {
	f := false
	tru := true
	root := int64(0)
	cases := map[string]struct {
		breakIt func(m *Manifests)
		want    []string
	}{
		"a writable root filesystem": {func(m *Manifests) {
			container(t, m, "auth").SecurityContext.ReadOnlyRootFilesystem = &f
		}, []string{"Deployment/auth", "readOnlyRootFilesystem"}},
		"privilege escalation": {func(m *Manifests) {
			container(t, m, "orders").SecurityContext.AllowPrivilegeEscalation = &tru
		}, []string{"Deployment/orders", "allowPrivilegeEscalation"}},
		"capabilities kept": {func(m *Manifests) {
			container(t, m, "tickets").SecurityContext.Capabilities.Drop = nil
		}, []string{"Deployment/tickets", "capabilities"}},
		"an added capability": {func(m *Manifests) {
			container(t, m, "tickets").SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, []string{"Deployment/tickets", "NET_ADMIN"}},
		"root": {func(m *Manifests) {
			m.Deployment("payments").Spec.Template.Spec.SecurityContext.RunAsUser = &root
		}, []string{"Deployment/payments", "runAsUser"}},
		"no seccomp profile": {func(m *Manifests) {
			m.Deployment("payments").Spec.Template.Spec.SecurityContext.SeccompProfile = nil
		}, []string{"Deployment/payments", "seccomp"}},
		"a mounted token": {func(m *Manifests) {
			m.Deployment("expiration").Spec.Template.Spec.AutomountServiceAccountToken = &tru
		}, []string{"Deployment/expiration", "automountServiceAccountToken"}},
		"the default service account": {func(m *Manifests) {
			m.Deployment("expiration").Spec.Template.Spec.ServiceAccountName = "default"
		}, []string{"Deployment/expiration", "serviceAccountName"}},
		"a database on the host network": {func(m *Manifests) {
			m.StatefulSets[0].Spec.Template.Spec.HostNetwork = true
		}, []string{"StatefulSet/", "host namespace"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := renderDev(t)
			require.Empty(t, CheckHardening(m, devWritable))
			tc.breakIt(m)
			assertProblem(t, CheckHardening(m, devWritable), tc.want...)
		})
	}
	t.Run("the client's writable root outside development", func(t *testing.T) {
		assertProblem(t, CheckHardening(renderDev(t), WritableRoot{}), "Deployment/client", "readOnlyRootFilesystem")
	})
}

func TestProbesResourcesAndGraceCatch(t *testing.T) {
	r := theRepo(t)
	t.Run("a missing readiness probe", func(t *testing.T) {
		m := renderDev(t)
		container(t, m, "auth").ReadinessProbe = nil
		assertProblem(t, CheckProbes(m, r.skaffold), "Deployment/auth", "no readiness probe")
	})
	t.Run("a liveness probe that is not /healthz", func(t *testing.T) {
		m := renderDev(t)
		container(t, m, "orders").LivenessProbe.HTTPGet.Path = "/readyz"
		assertProblem(t, CheckProbes(m, r.skaffold), "Deployment/orders", "GET /healthz")
	})
	t.Run("a probe at an undeclared port", func(t *testing.T) {
		m := renderDev(t)
		container(t, m, "client").ReadinessProbe.HTTPGet.Port = intstr.FromString("web")
		assertProblem(t, CheckProbes(m, r.skaffold), "Deployment/client", "does not declare")
	})
	t.Run("no memory limit", func(t *testing.T) {
		m := renderDev(t)
		delete(container(t, m, "payments").Resources.Limits, corev1.ResourceMemory)
		assertProblem(t, CheckResources(m), "Deployment/payments", "no memory limit")
	})
	t.Run("a request above its limit", func(t *testing.T) {
		m := renderDev(t)
		c := container(t, m, "tickets")
		c.Resources.Requests[corev1.ResourceCPU] = c.Resources.Limits[corev1.ResourceCPU].DeepCopy()
		c.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("10m")
		assertProblem(t, CheckResources(m), "Deployment/tickets", "cpu request")
	})
	t.Run("a grace period shorter than the drain", func(t *testing.T) {
		m := renderDev(t)
		short := int64(20)
		m.Deployment("orders").Spec.Template.Spec.TerminationGracePeriodSeconds = &short
		assertProblem(t, CheckGracePeriod(m, r.skaffold, r.drain), "Deployment/orders", "terminationGracePeriodSeconds")
	})
}

func TestImagesAndEnvironmentCatch(t *testing.T) {
	r := theRepo(t)
	t.Run("an image of ours nothing builds", func(t *testing.T) {
		m := renderDev(t)
		container(t, m, "auth").Image = "ticketing/authentication"
		assertProblem(t, CheckImages(m, r.skaffold, "ticketing/"), "ticketing/authentication", "no skaffold artifact")
	})
	t.Run("an unpinned public image", func(t *testing.T) {
		m := renderDev(t)
		m.StatefulSets[0].Spec.Template.Spec.Containers[0].Image = "mongo"
		assertProblem(t, CheckImages(m, r.skaffold, "ticketing/"), "no pinned tag")
	})
	t.Run("a required variable missing", func(t *testing.T) {
		m := renderDev(t)
		withoutEnv(container(t, m, "tickets"), "JWT_KEY")
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "Deployment/tickets", "required JWT_KEY")
	})
	t.Run("a variable the code requires but the contract does not list", func(t *testing.T) {
		m := renderDev(t)
		required := map[string][]string{"expiration": {"EXPIRATION_QUEUE"}}
		assertProblem(t, CheckEnv(m, r.skaffold, required), "Deployment/expiration", "required EXPIRATION_QUEUE")
	})
	t.Run("a client id that is not the pod's name", func(t *testing.T) {
		m := renderDev(t)
		e := envVar(t, container(t, m, "payments"), "NATS_CLIENT_ID")
		e.ValueFrom, e.Value = nil, "payments"
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "Deployment/payments", "NATS_CLIENT_ID")
	})
	t.Run("a secret key from the wrong secret", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "payments"), "STRIPE_KEY").ValueFrom.SecretKeyRef.Name = "jwt-secret"
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "Deployment/payments", "STRIPE_KEY")
	})
	t.Run("another service's database", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "orders"), "MONGO_URI").Value = "mongodb://tickets-mongo:27017/tickets"
		problems := CheckEnv(m, r.skaffold, r.required)
		assertProblem(t, problems, "Deployment/orders", `names database "tickets"`)
		assertProblem(t, problems, "shared by")
		assertProblem(t, CheckNetwork(m), "needed but denied: orders -> tickets-mongo")
	})
	t.Run("a malformed reservation window", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "orders"), "ORDER_EXPIRATION_WINDOW").Value = "15"
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "ORDER_EXPIRATION_WINDOW")
	})
	t.Run("no cap on open orders", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "orders"), "MAX_OPEN_ORDERS").Value = "0"
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "MAX_OPEN_ORDERS")
	})
	t.Run("insecure cookies", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "auth"), "COOKIE_SECURE").Value = "false"
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "COOKIE_SECURE")
	})
	t.Run("another origin allowed to make unsafe requests", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "orders"), "PUBLIC_ORIGINS").Value = "https://ticketing.dev,https://evil.ticketing.dev"
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "PUBLIC_ORIGINS", "https://evil.ticketing.dev")
	})
	t.Run("no PUBLIC_ORIGINS", func(t *testing.T) {
		m := renderDev(t)
		c := container(t, m, "tickets")
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "PUBLIC_ORIGINS" })
		assertProblem(t, CheckEnv(m, r.skaffold, r.required), "PUBLIC_ORIGINS")
	})
}

func TestServicesAndIngressCatch(t *testing.T) {
	t.Run("a selector that matches nothing", func(t *testing.T) {
		m := renderDev(t)
		m.Service("tickets").Spec.Selector = map[string]string{"app.kubernetes.io/name": "ticket"}
		problems := CheckServices(m)
		assertProblem(t, problems, "Service tickets", "matches no pods")
		assertProblem(t, problems, "Deployment/tickets", "no Service selects it")
	})
	t.Run("a target port the container does not declare", func(t *testing.T) {
		m := renderDev(t)
		m.Service("nats").Spec.Ports[1].TargetPort = intstr.FromString("monitoring")
		assertProblem(t, CheckServices(m), "Service nats port 8222", "monitoring")
	})
	t.Run("a StatefulSet whose service selects other pods", func(t *testing.T) {
		m := renderDev(t)
		for _, s := range m.StatefulSets {
			if s.Name == "orders-mongo" {
				s.Spec.ServiceName = "tickets-mongo"
			}
		}
		assertProblem(t, CheckServices(m), "StatefulSet/orders-mongo", "selects other pods")
	})
	t.Run("a path to a missing service", func(t *testing.T) {
		m := renderDev(t)
		m.Ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "users"
		problems := CheckIngress(m)
		assertProblem(t, problems, "Service users does not exist")
		assertProblem(t, problems, "/api/users does not route to auth")
	})
	t.Run("a path to a port the service does not expose", func(t *testing.T) {
		m := renderDev(t)
		m.Ingresses[0].Spec.Rules[0].HTTP.Paths[1].Backend.Service.Port = networkingv1.ServiceBackendPort{Number: 80}
		assertProblem(t, CheckIngress(m), "exposes no port")
	})
	t.Run("the public host reachable over plain HTTP", func(t *testing.T) {
		m := renderDev(t)
		delete(m.Ingresses[0].Annotations, ForceSSLRedirect)
		assertProblem(t, CheckIngress(m), "force-ssl-redirect", "HSTS")
	})
	t.Run("a snippet on the public host", func(t *testing.T) {
		m := renderDev(t)
		m.Ingresses[0].Annotations["nginx.ingress.kubernetes.io/configuration-snippet"] = `more_clear_headers "Strict-Transport-Security";`
		assertProblem(t, CheckIngress(m), "configuration-snippet", "no snippets")
	})
	t.Run("the public host without TLS", func(t *testing.T) {
		m := renderDev(t)
		m.Ingresses[0].Spec.TLS = nil
		assertProblem(t, CheckIngress(m), "ticketing.dev is served without TLS")
	})
	t.Run("an API host served without TLS", func(t *testing.T) {
		m := renderDev(t)
		internal := m.Ingresses[0].DeepCopy()
		internal.Name, internal.Spec.TLS, internal.Annotations = "ticketing-internal", nil, nil
		internal.Spec.Rules[0].Host = "ticketing.internal"
		m.Ingresses = append(m.Ingresses, internal)
		assertProblem(t, CheckIngress(m), "Ingress ticketing-internal: ticketing.internal is served without TLS, on the public load balancer")
	})
	t.Run("server-side calls through the ingress controller", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "client"), "API_BASE_URL").Value = "http://" + ControllerService
		assertProblem(t, CheckIngress(m), "does not name each API's Service by {service}")
	})
	t.Run("a service template outside the host", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "client"), "API_BASE_URL").Value = "http://gateway:3000/{service}"
		assertProblem(t, CheckIngress(m), "{service} is not in the host")
	})
	t.Run("a service template on a port the Services do not expose", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "client"), "API_BASE_URL").Value = "http://{service}:8080"
		assertProblem(t, CheckIngress(m), "client API_BASE_URL for auth", "has no port 8080")
	})
}

func TestSecretsDocumentedCatches(t *testing.T) {
	r := theRepo(t)
	t.Run("a key the guide does not create", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "auth"), "JWT_KEY").ValueFrom.SecretKeyRef.Key = "JWT_SECRET"
		assertProblem(t, CheckSecretsDocumented(m, r.docSecrets), "key JWT_SECRET of jwt-secret")
	})
	t.Run("a secret the guide does not create", func(t *testing.T) {
		m := renderDev(t)
		m.Ingresses[0].Spec.TLS[0].SecretName = "ticketing-tls"
		assertProblem(t, CheckSecretsDocumented(m, r.docSecrets), "ticketing-tls", "never creates")
	})
	t.Run("secrets created in another namespace", func(t *testing.T) {
		docs := SecretsInDoc("kubectl create secret generic jwt-secret --from-literal=JWT_KEY=x\n" +
			"kubectl create secret generic stripe-secret -n ticketing --from-literal=STRIPE_KEY=y --from-literal=STRIPE_PUBLISHABLE_KEY=z\n" +
			"kubectl create secret tls ticketing-dev-tls -n ticketing --cert=c --key=k\n")
		assertProblem(t, CheckSecretsDocumented(renderDev(t), docs), "docs/kubernetes.md creates jwt-secret in namespace \"\"")
	})
}

func TestNetworkCheckCatches(t *testing.T) {
	t.Run("a database open to another service", func(t *testing.T) {
		m := renderDev(t)
		np := policy(t, m, "auth-mongo")
		np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "tickets"}},
		})
		// tickets' own egress policy still blocks it; open that too.
		tp := policy(t, m, "tickets")
		tp.Spec.Egress = append(tp.Spec.Egress, networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "auth-mongo"}}}},
		})
		assertProblem(t, CheckNetwork(m), "allowed but not needed: tickets -> auth-mongo TCP/27017")
	})
	t.Run("egress to anywhere", func(t *testing.T) {
		m := renderDev(t)
		policy(t, m, "client").Spec.Egress = append(policy(t, m, "client").Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
		problems := CheckNetwork(m)
		assertProblem(t, problems, "allowed but not needed: client -> the internet")
		assertProblem(t, problems, "allowed but not needed: client -> the cloud metadata server")
	})
	t.Run("a service cut off from NATS", func(t *testing.T) {
		m := renderDev(t)
		policy(t, m, "nats").Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values = []string{"auth", "tickets", "orders", "payments"}
		assertProblem(t, CheckNetwork(m), "needed but denied: expiration -> nats TCP/4222")
	})
	t.Run("the default deny removed", func(t *testing.T) {
		m := renderDev(t)
		var kept []*networkingv1.NetworkPolicy
		for _, np := range m.NetworkPolicies {
			if np.Name != "default-deny" && np.Name != "nats" {
				kept = append(kept, np)
			}
		}
		m.NetworkPolicies = kept
		// The client's own egress policy still holds; the controller's side has none.
		assertProblem(t, CheckNetwork(m), "allowed but not needed: ingress-nginx controller -> nats TCP/4222")
	})
	t.Run("a policy whose selector matches no pod", func(t *testing.T) {
		m := renderDev(t)
		policy(t, m, "auth").Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] = "users"
		assertProblem(t, CheckNetwork(m), "NetworkPolicy auth selects no pod")
	})
	t.Run("an API closed to the client's server-side rendering", func(t *testing.T) {
		m := renderDev(t)
		np := policy(t, m, "tickets")
		np.Spec.Ingress = np.Spec.Ingress[:0]
		assertProblem(t, CheckNetwork(m), "needed but denied: client -> tickets TCP/3000")
	})
	t.Run("the ingress controller admitted to a store", func(t *testing.T) {
		m := renderDev(t)
		np := policy(t, m, "from-ingress-controller")
		sel := np.Spec.PodSelector.MatchExpressions
		sel[0].Values = append(sel[0].Values, "auth-mongo")
		np.Spec.Ingress[0].Ports = nil // the named port http kept the store out
		assertProblem(t, CheckNetwork(m), "allowed but not needed: ingress-nginx controller -> auth-mongo TCP/27017")
	})
	t.Run("a URL to a service that does not exist", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "expiration"), "REDIS_URL").Value = "redis://redis:6379/0"
		assertProblem(t, CheckNetwork(m), "REDIS_URL", `no Service "redis"`)
	})
}

func TestTheIngressControllerIsNamedInOnePlace(t *testing.T) {
	for _, c := range renders(t) {
		assert.Empty(t, CheckControllerNamedOnce(c.M), c.Name)
	}
	m := renderDev(t)
	np := policy(t, m, "auth")
	np.Spec.Ingress = append(np.Spec.Ingress, policy(t, m, "from-ingress-controller").Spec.Ingress...)
	envVar(t, container(t, m, "client"), "API_BASE_URL").Value = "http://" + ControllerService
	problems := CheckControllerNamedOnce(m)
	assertProblem(t, problems, "selected by 2 NetworkPolicies")
	assertProblem(t, problems, "Deployment/client/client API_BASE_URL names the ingress controller's Service")
}

func TestProductionCheckCatches(t *testing.T) {
	one := int32(1)
	t.Run("a single replica", func(t *testing.T) {
		m := renderProd(t)
		m.Deployment("auth").Spec.Replicas = &one
		assertProblem(t, CheckProduction(m, []string{"tickets", "orders"}), "Deployment/auth", "fewer than 2")
	})
	t.Run("replicas fighting the autoscaler", func(t *testing.T) {
		m := renderProd(t)
		two := int32(2)
		m.Deployment("orders").Spec.Replicas = &two
		assertProblem(t, CheckProduction(m, []string{"tickets", "orders"}), "Deployment/orders", "autoscaler owns them")
	})
	t.Run("no disruption budget", func(t *testing.T) {
		m := renderProd(t)
		m.PDBs = m.PDBs[1:]
		assertProblem(t, CheckProduction(m, []string{"tickets", "orders"}), "has 0 disruption budgets")
	})
	t.Run("a budget that blocks every eviction", func(t *testing.T) {
		m := renderProd(t)
		zero := intstr.FromInt32(0)
		m.PDBs[0].Spec.MaxUnavailable = &zero
		assertProblem(t, CheckProduction(m, []string{"tickets", "orders"}), "never lets a pod")
	})
	t.Run("no autoscaler", func(t *testing.T) {
		m := renderProd(t)
		m.HPAs = m.HPAs[:1]
		assertProblem(t, CheckProduction(m, []string{"tickets", "orders"}), "has no HorizontalPodAutoscaler")
	})
	t.Run("development is not production", func(t *testing.T) {
		assertProblem(t, CheckProduction(renderDev(t), []string{"tickets", "orders"}), "fewer than 2")
	})
}

func TestStrictDecodingRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"an unknown field": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  selectr:\n    app: a\n",
		"a wrong type":     "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: http\n",
		"a duplicated key": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  name: b\n",
		"an unknown kind":  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n",
		"a bad name":       "apiVersion: v1\nkind: Service\nmetadata:\n  name: Auth_Service\n",
		"a bad label":      "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  labels:\n    app: \"not a value\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([][]byte{[]byte(doc)})
			assert.Error(t, err)
		})
	}
}

func statefulSet(t *testing.T, m *Manifests, name string) *corev1.Container {
	t.Helper()
	for _, s := range m.StatefulSets {
		if s.Name == name {
			return &s.Spec.Template.Spec.Containers[0]
		}
	}
	t.Fatalf("no StatefulSet %s", name)
	return nil
}

func withoutArg(c *corev1.Container, arg string) {
	c.Args = slices.DeleteFunc(c.Args, func(a string) bool { return a == arg || strings.HasPrefix(a, arg+"=") })
}

func TestStoreAuthCatches(t *testing.T) {
	t.Run("a broker without users", func(t *testing.T) {
		m := renderDev(t)
		withoutArg(statefulSet(t, m, "nats"), "-c")
		assertProblem(t, CheckStoreAuth(m), "StatefulSet/nats", "without a configuration file")
	})
	t.Run("a broker configuration without authorization", func(t *testing.T) {
		m := renderDev(t)
		for _, cm := range m.ConfigMaps {
			if strings.HasPrefix(cm.Name, "nats-config") {
				cm.Data["nats.conf"] = "streaming { cluster_id: ticketing }\n"
			}
		}
		assertProblem(t, CheckStoreAuth(m), "StatefulSet/nats", "no authorization block")
	})
	t.Run("a broker password written down", func(t *testing.T) {
		m := renderDev(t)
		for _, cm := range m.ConfigMaps {
			if strings.HasPrefix(cm.Name, "nats-config") {
				cm.Data["nats.conf"] = strings.Replace(cm.Data["nats.conf"], "$PAYMENTS_PASSWORD", `"hunter2"`, 1)
			}
		}
		problems := CheckStoreAuth(m)
		assertProblem(t, problems, "StatefulSet/nats", "user payments", "written in the manifests")
		assertProblem(t, problems, "Deployment/payments", "not one the broker admits")
	})
	t.Run("a broker password from no secret", func(t *testing.T) {
		m := renderDev(t)
		e := envVar(t, statefulSet(t, m, "nats"), "ORDERS_PASSWORD")
		e.ValueFrom, e.Value = nil, "hunter2"
		assertProblem(t, CheckStoreAuth(m), "StatefulSet/nats", "ORDERS_PASSWORD, which does not come from a secret")
	})
	t.Run("a service without broker credentials", func(t *testing.T) {
		m := renderDev(t)
		withoutEnv(container(t, m, "tickets"), "NATS_USER")
		assertProblem(t, CheckStoreAuth(m), "Deployment/tickets", "NATS_USER is not set")
	})
	t.Run("a broker password as a plain value", func(t *testing.T) {
		m := renderDev(t)
		e := envVar(t, container(t, m, "orders"), "NATS_PASSWORD")
		e.ValueFrom, e.Value = nil, "hunter2"
		assertProblem(t, CheckStoreAuth(m), "Deployment/orders", "NATS_PASSWORD does not come from a secret")
	})
	t.Run("two services share broker credentials", func(t *testing.T) {
		m := renderDev(t)
		// tickets, as payments, could publish payment:created.
		c := container(t, m, "tickets")
		envVar(t, c, "NATS_USER").Value = "payments"
		envVar(t, c, "NATS_PASSWORD").ValueFrom.SecretKeyRef.Key = "payments"
		problems := CheckStoreAuth(m)
		assertProblem(t, problems, "broker user payments", "[payments tickets]", "share broker credentials")
		assertProblem(t, problems, "nats-users/payments", "[payments tickets]")
	})
	t.Run("a service with another user's password", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "tickets"), "NATS_PASSWORD").ValueFrom.SecretKeyRef.Key = "orders"
		assertProblem(t, CheckStoreAuth(m), "Deployment/tickets", "broker user tickets", "not one the broker admits")
	})
	t.Run("Redis without a password", func(t *testing.T) {
		m := renderDev(t)
		c := statefulSet(t, m, "expiration-redis")
		i := slices.Index(c.Args, "--requirepass")
		c.Args = slices.Delete(c.Args, i, i+2)
		assertProblem(t, CheckStoreAuth(m), "StatefulSet/expiration-redis", "without --requirepass")
	})
	t.Run("a Redis URL without the password", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "expiration"), "REDIS_URL").Value = "redis://expiration-redis:6379/0"
		assertProblem(t, CheckStoreAuth(m), "Deployment/expiration", "REDIS_URL carries no credentials")
	})
	t.Run("a Redis password written down", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "expiration"), "REDIS_URL").Value = "redis://:hunter2@expiration-redis:6379/0"
		assertProblem(t, CheckStoreAuth(m), "Deployment/expiration", "REDIS_URL has its password written")
	})
	t.Run("a MongoDB without --auth", func(t *testing.T) {
		m := renderDev(t)
		withoutArg(statefulSet(t, m, "tickets-mongo"), "--auth")
		assertProblem(t, CheckStoreAuth(m), "StatefulSet/tickets-mongo", "without --auth")
	})
	t.Run("a MongoDB whose user is created from no secret", func(t *testing.T) {
		m := renderDev(t)
		for _, s := range m.StatefulSets {
			if s.Name == "orders-mongo" {
				e := envVar(t, &s.Spec.Template.Spec.InitContainers[0], "MONGO_PASSWORD")
				e.ValueFrom, e.Value = nil, "hunter2"
			}
		}
		assertProblem(t, CheckStoreAuth(m), "StatefulSet/orders-mongo", "does not come from a secret")
	})
	t.Run("a MongoDB URI without credentials", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "payments"), "MONGO_URI").Value = "mongodb://payments-mongo:27017/payments"
		assertProblem(t, CheckStoreAuth(m), "Deployment/payments", "MONGO_URI carries no credentials")
	})
	t.Run("a MongoDB URI with another database's user", func(t *testing.T) {
		m := renderDev(t)
		envVar(t, container(t, m, "orders"), "MONGO_URI").Value = "mongodb://tickets:$(MONGO_PASSWORD)@orders-mongo:27017/orders"
		assertProblem(t, CheckStoreAuth(m), "Deployment/orders", `user "tickets"`, "not one orders-mongo admits")
	})
}
