// Command machinepoollet serves one MachinePool: it registers the pool, heartbeats, keeps its
// capacity current from a machine runtime, and turns the Machines bound to the pool into
// runtime machines (see docs/poollet.md).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/poollet/console"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtimeconn"
)

func main() {
	var (
		kubeconfig, endpoint, labels, metricsAddress, healthAddress string
		options                                                     machine.Options
		consoleOptions                                              console.Options
	)
	cmd := &cobra.Command{
		Use:          "machinepoollet",
		Short:        "Run the poollet of one MachinePool against a machine runtime",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			if options.PoolName == "" {
				return fmt.Errorf("--pool-name is required")
			}
			poolLabels, err := poolstatus.ParseLabels(labels)
			if err != nil {
				return err
			}
			if err := consoleOptions.Validate(); err != nil {
				return err
			}
			options.PoolLabels = poolLabels
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			conn, err := runtimeconn.Dial(endpoint)
			if err != nil {
				return err
			}
			defer conn.Close()
			logger := klog.Background()
			ctrllog.SetLogger(logger)
			ctx := klog.NewContext(genericapiserver.SetupSignalContext(), logger)
			p := &machine.Poollet{Options: options}
			mgr, err := machine.NewManager(config, options.PoolName, manager.Options{
				Logger:                 logger,
				Metrics:                metricsserver.Options{BindAddress: metricsAddress},
				HealthProbeBindAddress: healthAddress,
			})
			if err != nil {
				return err
			}
			runtime := runtimev1alpha1.NewMachineRuntimeClient(conn)
			if consoleOptions.BindAddress != "" {
				// The console endpoint, published as the pool's status.runtimeEndpoint.
				consoleServer := &console.Server{Options: consoleOptions, Pool: options.PoolName, Machines: mgr.GetClient(), Runtime: runtime}
				listener, err := consoleServer.Listen()
				if err != nil {
					return err
				}
				if p.RuntimeEndpoint, err = consoleOptions.URL(listener); err != nil {
					return err
				}
				if err := mgr.Add(consoleServer); err != nil {
					return err
				}
			}
			p.Runtime, p.Recorder = runtime, controllermanager.EventRecorder(mgr, config, logger)
			if err := p.Setup(mgr); err != nil {
				return err
			}
			return mgr.Start(ctx)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the Ferrite API; empty means in-cluster")
	flags.StringVar(&endpoint, "runtime-endpoint", "unix:///run/ferrite/machine-runtime.sock", "the machine runtime's socket, unix:///path")
	flags.StringVar(&options.PoolName, "pool-name", "", "the MachinePool this poollet serves (required)")
	flags.StringVar(&options.ProviderID, "provider-id", "", "spec.providerID of the pool when the poollet creates it")
	flags.StringVar(&labels, "pool-labels", "", "labels of the pool when the poollet creates it, k=v[,k=v...] (e.g. topology.ferrite.dev/zone=a)")
	flags.DurationVar(&options.HeartbeatInterval, "heartbeat-interval", 10*time.Second, "how often the pool's lastHeartbeatTime and Ready condition are written")
	flags.IntVar(&options.Workers, "workers", 8, "Machines reconciled at once")
	flags.DurationVar(&options.RuntimeTimeout, "runtime-timeout", 10*time.Second, "timeout of each unary call to the runtime")
	flags.StringVar(&options.VolumeKeyNamespace, "volume-key-namespace", machine.DefaultVolumeKeyNamespace, "namespace of the passphrase Secrets of encrypted Volumes (the volumepoollet's --key-namespace)")
	consoleOptions.AddFlags(flags)
	flags.StringVar(&metricsAddress, "metrics-bind-address", "0", "metrics address; 0 disables")
	flags.StringVar(&healthAddress, "health-probe-bind-address", "0", "health probe address; 0 disables")
	os.Exit(cli.Run(cmd))
}
