// Command volumepoollet serves one VolumePool: it registers the pool, heartbeats, keeps its
// capacity current from a volume runtime, and turns the Volumes bound to the pool and their
// VolumeSnapshots into runtime volumes and snapshots (see docs/volumepoollet.md).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/startup"
	"github.com/ferrite-dev/ferrite/poollet/volume"
)

func main() {
	var (
		flags   startup.Flags
		options volume.Options
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
			env, err := flags.Start()
			if err != nil {
				return err
			}
			defer env.Conn.Close()
			options.PoolLabels = env.PoolLabels
			mgr, err := volume.NewManager(env.Config, options.PoolName, env.Manager)
			if err != nil {
				return err
			}
			p := &volume.Poollet{
				Options:  options,
				Runtime:  runtimev1alpha1.NewVolumeRuntimeClient(env.Conn),
				Recorder: controllermanager.EventRecorder(mgr, env.Config, env.Logger),
			}
			if err := p.Setup(mgr); err != nil {
				return err
			}
			return mgr.Start(env.Context)
		},
	}
	fs := cmd.Flags()
	flags.AddFlags(fs, "volume")
	fs.StringVar(&options.PoolName, "pool-name", "", "the VolumePool this poollet serves (required)")
	fs.StringVar(&options.ProviderID, "provider-id", "", "spec.providerID of the pool when the poollet creates it (e.g. ceph://cluster/pool)")
	fs.StringVar(&options.KeyNamespace, "key-namespace", volume.DefaultKeyNamespace, "namespace of the LUKS passphrase Secrets; tenants must not be able to read it")
	fs.Float64Var(&options.OvercommitRatio, "overcommit-ratio", 1.0, "allocatable bytes per physical byte of each class (thin provisioning headroom)")
	fs.DurationVar(&options.HeartbeatInterval, "heartbeat-interval", 10*time.Second, "how often the pool's lastHeartbeatTime and Ready condition are written")
	fs.DurationVar(&options.StatusInterval, "status-interval", time.Minute, "how often the runtime's capacity is read again when no change asked for it")
	fs.IntVar(&options.Workers, "workers", 8, "Volumes (and VolumeSnapshots) reconciled at once")
	fs.DurationVar(&options.RuntimeTimeout, "runtime-timeout", 10*time.Second, "timeout of each unary call to the runtime")
	os.Exit(cli.Run(cmd))
}
