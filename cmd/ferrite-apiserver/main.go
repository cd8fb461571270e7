// Command ferrite-apiserver serves the *.ferrite.dev API groups from etcd, standalone on an
// embedded etcd (the default) or behind kube-apiserver as an aggregated API server.
package main

import (
	"os"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/ferrite-dev/ferrite/apiserver"
)

func main() {
	options := apiserver.NewOptions()
	cmd := &cobra.Command{
		Use:   "ferrite-apiserver",
		Short: "Serve the Ferrite API groups (compute, storage, networking, ipam, core)",
		Long: `ferrite-apiserver serves the *.ferrite.dev API groups from etcd.

Without --etcd-servers it runs standalone: an embedded etcd, certificates and an admin
kubeconfig under --data-dir. With --authentication-kubeconfig and --authorization-kubeconfig
it delegates authentication and authorization to a kube-apiserver, as an aggregated API server.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The garbage collector's settings change the whole process: the binary sets
			// them, not Run, which tests call in their own process.
			if err := options.GC.Apply(); err != nil {
				return err
			}
			return options.Run(genericapiserver.SetupSignalContext())
		},
	}
	options.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}
