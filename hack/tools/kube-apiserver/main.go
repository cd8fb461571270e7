// Command kube-apiserver is Kubernetes' API server, built from k8s.io/kubernetes at the version
// go.mod pins, for Ferrite's local control plane and end-to-end tests.
package main

import (
	"os"

	_ "time/tzdata"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
