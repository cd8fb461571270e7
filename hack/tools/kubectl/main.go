// Command kubectl is the kubectl the Ferrite end-to-end tests run: a thin main around
// k8s.io/kubectl's own command tree, built from the module proxy at a pinned version by
// hack/build-kubectl.sh so the tests never depend on whatever kubectl a machine has.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
	os.Exit(0)
}
