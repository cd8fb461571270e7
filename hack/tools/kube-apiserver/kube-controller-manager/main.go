// Command kube-controller-manager is Kubernetes' controller manager, built from the same
// k8s.io/kubernetes version as kube-apiserver (the go.mod one directory up), so that `make run`
// and the aggregated end-to-end tests aggregate RBAC roles, finalize deleted namespaces and
// collect garbage as a real cluster does.
package main

import (
	"os"

	_ "time/tzdata"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
