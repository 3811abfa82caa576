// Command etcd is the store the API server keeps its objects in, built from
// etcd's module at the version Kubernetes' client uses.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
