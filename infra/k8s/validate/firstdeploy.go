package validate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The checks in this file prove what a rendering can show of the first
// `skaffold dev` on a fresh cluster (docs/kubernetes.md, "The first skaffold
// dev"): each guards a failure that made it stop before anything else ran.

// NextDevOutput is where `next dev` writes its build: .next under the client
// image's WORKDIR (client/Dockerfile).
const NextDevOutput = "/app/.next"

// CheckStartupTolerated: skaffold waits out the failures of a first deploy
// (services that exit or are unready while the store images still pull) until
// its status-check deadline, instead of taking the first terminated container
// as final and deleting everything.
func CheckStartupTolerated(cfg *SkaffoldConfig) []string {
	d := cfg.Deploy
	var problems []string
	if d.TolerateFailuresUntilDeadline == nil || !*d.TolerateFailuresUntilDeadline {
		problems = append(problems, "deploy.tolerateFailuresUntilDeadline is not true: the first container that exits while the stores start ends the first deploy")
	}
	if d.StatusCheckDeadlineSeconds < 300 {
		problems = append(problems, fmt.Sprintf("deploy.statusCheckDeadlineSeconds is %d: a first deploy pulls every store image, allow at least 300", d.StatusCheckDeadlineSeconds))
	}
	return problems
}

// CheckDevClientWritable: a container running an image built from a `dev`
// target (next dev) writes NextDevOutput, so a volume writable by its uid must
// be mounted there; an image without it has no such folder, and a mount
// below it would make the runtime create it owned by root.
func CheckDevClientWritable(m *Manifests, cfg *SkaffoldConfig) []string {
	var problems []string
	for _, w := range m.Workloads() {
		for _, c := range w.Template.Spec.Containers {
			a := cfg.Artifact(c.Image)
			if a == nil || a.Docker == nil || a.Docker.Target != "dev" {
				continue
			}
			if !mountsEmptyDir(w.Template.Spec, c, NextDevOutput) {
				problems = append(problems, fmt.Sprintf("%s/%s runs next dev but mounts no emptyDir at %s: next dev (uid %s) cannot write its build there",
					w.ID(), c.Name, NextDevOutput, uidOf(w.Template.Spec, c)))
			}
		}
	}
	return problems
}

func mountsEmptyDir(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path || vm.ReadOnly {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.EmptyDir != nil {
				return true
			}
		}
	}
	return false
}

func uidOf(pod corev1.PodSpec, c corev1.Container) string {
	switch {
	case c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil:
		return fmt.Sprint(*c.SecurityContext.RunAsUser)
	case pod.SecurityContext != nil && pod.SecurityContext.RunAsUser != nil:
		return fmt.Sprint(*pod.SecurityContext.RunAsUser)
	}
	return "of the image"
}

var allowedDevOrigins = regexp.MustCompile(`allowedDevOrigins:\s*\[([^\]]*)\]`)

// CheckDevOrigins: next dev answers 403 to /_next requests (hot reload) from
// an origin it does not know, so next.config must allow every host the
// ingress serves the client on.
func CheckDevOrigins(m *Manifests, nextConfig string) []string {
	found := allowedDevOrigins.FindStringSubmatch(nextConfig)
	var allowed []string
	if found != nil {
		for _, item := range strings.Split(found[1], ",") {
			if item = strings.Trim(strings.TrimSpace(item), `'"`); item != "" {
				allowed = append(allowed, item)
			}
		}
	}
	var problems []string
	for _, host := range clientHosts(m) {
		if !slices.Contains(allowed, host) {
			problems = append(problems, fmt.Sprintf("client/next.config: allowedDevOrigins does not list %s, which the ingress serves the client on: next dev would refuse its hot reload", host))
		}
	}
	return problems
}

// clientHosts are the ingress hosts whose rules send a path to the client.
func clientHosts(m *Manifests) []string {
	var hosts []string
	for _, p := range m.IngressPaths() {
		if p.Backend.Service != nil && p.Backend.Service.Name == "client" && !slices.Contains(hosts, p.Host) {
			hosts = append(hosts, p.Host)
		}
	}
	return hosts
}
