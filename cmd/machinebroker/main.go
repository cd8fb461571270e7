// Command machinebroker serves the machine runtime on a unix socket on top of another Ferrite
// cluster (the lower cluster): an unchanged machinepoollet drives it, and every runtime machine
// becomes a Machine in the lower cluster's target namespace; the lower Events about those
// Machines pass up as runtime events. docs/brokers.md describes it.
package main

import (
	"time"

	"github.com/ferrite-dev/ferrite/broker/brokercmd"
	"github.com/ferrite-dev/ferrite/broker/machine"
)

func main() {
	var opts machine.Options
	cmd := brokercmd.Command("machinebroker", "Serve the machine runtime on top of another Ferrite cluster",
		brokercmd.Runtime{Kind: "machine"}, func(lower brokercmd.Lower) (brokercmd.Broker, error) {
			opts.Namespace, opts.MachinePoolSelector, opts.Classes, opts.HistoryLimit = lower.Namespace, lower.PoolSelector, lower.Classes, lower.HistorySize
			opts.Client, opts.Config, opts.Secrets, opts.Events = lower.Client, lower.Config, lower.Kube, lower.Events
			return machine.New(opts)
		})
	flags := cmd.Flags()
	flags.DurationVar(&opts.SweepInterval, "sweep-interval", time.Minute, "how often half-created lower objects are looked for")
	flags.DurationVar(&opts.SweepGrace, "sweep-grace", 2*time.Minute, "how old a half-created lower object must be to be deleted")
	brokercmd.Main(cmd)
}
