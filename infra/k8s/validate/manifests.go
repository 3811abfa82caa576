package validate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Manifests is one rendered kustomization, every document decoded into its
// API type.
type Manifests struct {
	// Namespace is the namespace every namespaced object is in ("" if none set).
	Namespace string

	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	Services        []*corev1.Service
	ServiceAccounts []*corev1.ServiceAccount
	ConfigMaps      []*corev1.ConfigMap
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
	PDBs            []*policyv1.PodDisruptionBudget
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	Issuers         []*cmv1.Issuer
	Certificates    []*cmv1.Certificate
	Gateways        []*gatewayv1.Gateway
	HTTPRoutes      []*gatewayv1.HTTPRoute
}

// Decode decodes each YAML document strictly into the type its apiVersion and
// kind name: an unknown field, a wrong type, a duplicated key or a kind this
// package does not know is an error. Names and labels must be valid too.
func Decode(docs [][]byte) (*Manifests, error) {
	m := &Manifests{}
	var errs []error
	namespaces := map[string]bool{}
	for _, doc := range docs {
		tm, err := kindOf(doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		obj, add, ok := m.slot(tm)
		if !ok {
			errs = append(errs, fmt.Errorf("%s %s: no API type registered; add it to Manifests", tm.APIVersion, tm.Kind))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", tm.Kind, nameOf(doc), err))
			continue
		}
		meta := obj.(metav1.Object)
		if err := checkMeta(tm.Kind, meta); err != nil {
			errs = append(errs, err)
		}
		namespaces[meta.GetNamespace()] = true
		add()
	}
	if len(namespaces) > 1 {
		errs = append(errs, fmt.Errorf("objects are spread over namespaces %v; an overlay sets one", keys(namespaces)))
	}
	for ns := range namespaces {
		m.Namespace = ns
	}
	return m, errors.Join(errs...)
}

// slot returns a fresh object of the type for tm and a function that keeps it.
func (m *Manifests) slot(tm typeMeta) (any, func(), bool) {
	switch tm.APIVersion + "/" + tm.Kind {
	case "apps/v1/Deployment":
		o := &appsv1.Deployment{}
		return o, func() { m.Deployments = append(m.Deployments, o) }, true
	case "apps/v1/StatefulSet":
		o := &appsv1.StatefulSet{}
		return o, func() { m.StatefulSets = append(m.StatefulSets, o) }, true
	case "v1/Service":
		o := &corev1.Service{}
		return o, func() { m.Services = append(m.Services, o) }, true
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		return o, func() { m.ConfigMaps = append(m.ConfigMaps, o) }, true
	case "v1/ServiceAccount":
		o := &corev1.ServiceAccount{}
		return o, func() { m.ServiceAccounts = append(m.ServiceAccounts, o) }, true
	case "networking.k8s.io/v1/Ingress":
		o := &networkingv1.Ingress{}
		return o, func() { m.Ingresses = append(m.Ingresses, o) }, true
	case "networking.k8s.io/v1/NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		return o, func() { m.NetworkPolicies = append(m.NetworkPolicies, o) }, true
	case "policy/v1/PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		return o, func() { m.PDBs = append(m.PDBs, o) }, true
	case "autoscaling/v2/HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		return o, func() { m.HPAs = append(m.HPAs, o) }, true
	case "cert-manager.io/v1/Issuer":
		o := &cmv1.Issuer{}
		return o, func() { m.Issuers = append(m.Issuers, o) }, true
	case "cert-manager.io/v1/Certificate":
		o := &cmv1.Certificate{}
		return o, func() { m.Certificates = append(m.Certificates, o) }, true
	}
	return m.gatewaySlot(tm)
}

// gatewaySlot: the Gateway API's kinds (components/gateway-api).
func (m *Manifests) gatewaySlot(tm typeMeta) (any, func(), bool) {
	switch tm.APIVersion + "/" + tm.Kind {
	case "gateway.networking.k8s.io/v1/Gateway":
		o := &gatewayv1.Gateway{}
		return o, func() { m.Gateways = append(m.Gateways, o) }, true
	case "gateway.networking.k8s.io/v1/HTTPRoute":
		o := &gatewayv1.HTTPRoute{}
		return o, func() { m.HTTPRoutes = append(m.HTTPRoutes, o) }, true
	}
	return nil, nil, false
}

func nameOf(doc []byte) string {
	var o struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &o)
	return o.Metadata.Name
}

// checkMeta applies the API server's rules for names and labels, which strict
// decoding alone does not.
func checkMeta(kind string, meta metav1.Object) error {
	var problems []string
	name := meta.GetName()
	nameRule := validation.IsDNS1123Subdomain
	if kind == "Service" {
		// Service names become DNS labels.
		nameRule = validation.IsDNS1035Label
	}
	for _, p := range nameRule(name) {
		problems = append(problems, fmt.Sprintf("name %q: %s", name, p))
	}
	for k, v := range meta.GetLabels() {
		for _, p := range validation.IsQualifiedName(k) {
			problems = append(problems, fmt.Sprintf("label key %q: %s", k, p))
		}
		for _, p := range validation.IsValidLabelValue(v) {
			problems = append(problems, fmt.Sprintf("label %s=%q: %s", k, v, p))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s %s: %s", kind, name, strings.Join(problems, "; "))
	}
	return nil
}

// IngressPath is one path of one Ingress rule.
type IngressPath struct {
	Ingress *networkingv1.Ingress
	Host    string
	networkingv1.HTTPIngressPath
}

// IngressPaths lists every path of every Ingress's rules, in order.
func (m *Manifests) IngressPaths() []IngressPath {
	var out []IngressPath
	for _, ing := range m.Ingresses {
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				out = append(out, IngressPath{Ingress: ing, Host: r.Host, HTTPIngressPath: p})
			}
		}
	}
	return out
}

// Workload is a Deployment or a StatefulSet, seen through what the checks need.
type Workload struct {
	Kind     string
	Name     string
	Labels   map[string]string
	Replicas *int32
	Selector *metav1.LabelSelector
	Template corev1.PodTemplateSpec
}

// ID names the workload in messages.
func (w Workload) ID() string { return w.Kind + "/" + w.Name }

// Workloads lists every Deployment and StatefulSet.
func (m *Manifests) Workloads() []Workload {
	var out []Workload
	for _, d := range m.Deployments {
		out = append(out, Workload{"Deployment", d.Name, d.Labels, d.Spec.Replicas, d.Spec.Selector, d.Spec.Template})
	}
	for _, s := range m.StatefulSets {
		out = append(out, Workload{"StatefulSet", s.Name, s.Labels, s.Spec.Replicas, s.Spec.Selector, s.Spec.Template})
	}
	return out
}

// Service returns the Service called name, or nil.
func (m *Manifests) Service(name string) *corev1.Service {
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Deployment returns the Deployment called name, or nil.
func (m *Manifests) Deployment(name string) *appsv1.Deployment {
	for _, d := range m.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// Selected lists the workloads whose pods a Service selector picks.
func (m *Manifests) Selected(selector map[string]string) []Workload {
	if len(selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(selector)
	var out []Workload
	for _, w := range m.Workloads() {
		if sel.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// containerPort finds the port a Service's targetPort names in a pod.
func containerPort(pod corev1.PodSpec, target string, number int32) (corev1.ContainerPort, bool) {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if (target != "" && p.Name == target) || (target == "" && p.ContainerPort == number) {
				return p, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
