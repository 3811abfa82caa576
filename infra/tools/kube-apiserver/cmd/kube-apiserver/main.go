// Command kube-apiserver is Kubernetes' own API server, built from the
// Kubernetes module at the version go.mod names, so make test-manifests can
// apply every rendering with a server-side dry run on a machine without a
// cluster or a download site (docs/kubernetes.md, "How the manifests are
// tested"). Nothing of ours is in it.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
