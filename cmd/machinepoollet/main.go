// Command machinepoollet serves one MachinePool: it registers the pool, heartbeats, keeps its
// capacity current from a machine runtime, and turns the Machines bound to the pool into
// runtime machines (see docs/poollet.md).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/poollet/console"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/startup"
)

func main() {
	var (
		flags          startup.Flags
		options        machine.Options
		consoleOptions console.Options
	)
	cmd := &cobra.Command{
		Use:          "machinepoollet",
		Short:        "Run the poollet of one MachinePool against a machine runtime",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			if options.PoolName == "" {
				return fmt.Errorf("--pool-name is required")
			}
			if err := consoleOptions.Validate(); err != nil {
				return err
			}
			env, err := flags.Start()
			if err != nil {
				return err
			}
			defer env.Conn.Close()
			options.PoolLabels = env.PoolLabels
			p := &machine.Poollet{Options: options}
			mgr, err := machine.NewManager(env.Config, options.PoolName, env.Manager)
			if err != nil {
				return err
			}
			runtime := runtimev1alpha1.NewMachineRuntimeClient(env.Conn)
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
			p.Runtime, p.Recorder = runtime, controllermanager.EventRecorder(mgr, env.Config, env.Logger)
			if err := p.Setup(mgr); err != nil {
				return err
			}
			return mgr.Start(env.Context)
		},
	}
	fs := cmd.Flags()
	flags.AddFlags(fs, "machine")
	fs.StringVar(&options.PoolName, "pool-name", "", "the MachinePool this poollet serves (required)")
	fs.StringVar(&options.ProviderID, "provider-id", "", "spec.providerID of the pool when the poollet creates it")
	fs.DurationVar(&options.HeartbeatInterval, "heartbeat-interval", 10*time.Second, "how often the pool's lastHeartbeatTime and Ready condition are written")
	fs.DurationVar(&options.StatusInterval, "status-interval", time.Minute, "how often the runtime's capacity is read again when no change asked for it")
	fs.IntVar(&options.Workers, "workers", 8, "Machines reconciled at once")
	fs.DurationVar(&options.RuntimeTimeout, "runtime-timeout", 10*time.Second, "timeout of each unary call to the runtime")
	fs.StringVar(&options.VolumeKeyNamespace, "volume-key-namespace", machine.DefaultVolumeKeyNamespace, "namespace of the passphrase Secrets of encrypted Volumes (the volumepoollet's --key-namespace)")
	consoleOptions.AddFlags(fs)
	os.Exit(cli.Run(cmd))
}
