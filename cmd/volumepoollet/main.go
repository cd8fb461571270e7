// Command volumepoollet serves one VolumePool: it registers the pool, heartbeats, keeps its
// capacity current from a volume runtime, and turns the Volumes bound to the pool and their
// VolumeSnapshots into runtime volumes and snapshots (see docs/volumepoollet.md).
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
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtimeconn"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

func main() {
	var (
		kubeconfig, endpoint, labels, metricsAddress, healthAddress string
		options                                                     volume.Options
	)
	cmd := &cobra.Command{
		Use:          "volumepoollet",
		Short:        "Run the poollet of one VolumePool against a volume runtime",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			if options.PoolName == "" {
				return fmt.Errorf("--pool-name is required")
			}
			if options.OvercommitRatio <= 0 {
				return fmt.Errorf("--overcommit-ratio must be greater than 0, not %g", options.OvercommitRatio)
			}
			poolLabels, err := poolstatus.ParseLabels(labels)
			if err != nil {
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
			mgr, err := volume.NewManager(config, options.PoolName, manager.Options{
				Logger:                 logger,
				Metrics:                metricsserver.Options{BindAddress: metricsAddress},
				HealthProbeBindAddress: healthAddress,
			})
			if err != nil {
				return err
			}
			p := &volume.Poollet{
				Options:  options,
				Runtime:  runtimev1alpha1.NewVolumeRuntimeClient(conn),
				Recorder: controllermanager.EventRecorder(mgr, config, logger),
			}
			if err := p.Setup(mgr); err != nil {
				return err
			}
			return mgr.Start(ctx)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the Ferrite API; empty means in-cluster")
	flags.StringVar(&endpoint, "runtime-endpoint", "unix:///run/ferrite/volume-runtime.sock", "the volume runtime's socket, unix:///path")
	flags.StringVar(&options.PoolName, "pool-name", "", "the VolumePool this poollet serves (required)")
	flags.StringVar(&options.ProviderID, "provider-id", "", "spec.providerID of the pool when the poollet creates it (e.g. ceph://cluster/pool)")
	flags.StringVar(&labels, "pool-labels", "", "labels of the pool when the poollet creates it, k=v[,k=v...] (e.g. topology.ferrite.dev/zone=a)")
	flags.StringVar(&options.KeyNamespace, "key-namespace", volume.DefaultKeyNamespace, "namespace of the LUKS passphrase Secrets; tenants must not be able to read it")
	flags.Float64Var(&options.OvercommitRatio, "overcommit-ratio", 1.0, "allocatable bytes per physical byte of each class (thin provisioning headroom)")
	flags.DurationVar(&options.HeartbeatInterval, "heartbeat-interval", 10*time.Second, "how often the pool's lastHeartbeatTime and Ready condition are written")
	flags.IntVar(&options.Workers, "workers", 8, "Volumes (and VolumeSnapshots) reconciled at once")
	flags.DurationVar(&options.RuntimeTimeout, "runtime-timeout", 10*time.Second, "timeout of each unary call to the runtime")
	flags.StringVar(&metricsAddress, "metrics-bind-address", "0", "metrics address; 0 disables")
	flags.StringVar(&healthAddress, "health-probe-bind-address", "0", "health probe address; 0 disables")
	os.Exit(cli.Run(cmd))
}
