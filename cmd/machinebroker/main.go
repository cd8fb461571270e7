// Command machinebroker serves the machine runtime on a unix socket on top of another Ferrite
// cluster (the lower cluster): an unchanged machinepoollet drives it, and every runtime machine
// becomes a Machine in the lower cluster's target namespace; the lower Events about those
// Machines pass up as runtime events. docs/brokers.md describes it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	"github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
)

func main() {
	var (
		opts                         machine.Options
		kubeconfig, socket, selector string
	)
	cmd := &cobra.Command{
		Use:          "machinebroker",
		Short:        "Serve the machine runtime on top of another Ferrite cluster",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			log := klog.Background()
			ctx := genericapiserver.SetupSignalContext()
			pools, err := poolstatus.ParseLabels(selector)
			if err != nil {
				return fmt.Errorf("--machine-pool-selector: %w", err)
			}
			opts.MachinePoolSelector = pools
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			if opts.Client, err = versioned.NewForConfig(config); err != nil {
				return err
			}
			core, err := kubernetes.NewForConfig(config)
			if err != nil {
				return err
			}
			opts.Secrets, opts.Config = core.CoreV1(), config
			if lowerevents.Served(core.Discovery()) {
				opts.Events = core
			} else {
				log.Info("the lower cluster serves no events.k8s.io/v1 Events; lower events are not passed up")
			}
			b, err := machine.New(opts)
			if err != nil {
				return err
			}
			if err := b.Start(ctx); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
				return err
			}
			stop, err := b.Serve(socket)
			if err != nil {
				return err
			}
			log.Info("serving the machine runtime", "socket", socket, "namespace", opts.Namespace, "poolSelector", pools, "classes", opts.Classes)
			<-ctx.Done()
			log.Info("stopping")
			stop()
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the lower cluster (empty: in-cluster)")
	flags.StringVar(&opts.Namespace, "namespace", "", "the lower namespace every object is made in (required)")
	flags.StringVar(&socket, "socket", "/run/ferrite/machine-runtime.sock", "the unix socket to serve the machine runtime on")
	flags.StringVar(&selector, "machine-pool-selector", "", "k=v[,k=v]: the lower Machines' spec.machinePoolSelector, and the lower pools whose capacity counts")
	flags.StringSliceVar(&opts.Classes, "classes", nil, "the machine classes exposed (default: all the lower cluster has)")
	flags.IntVar(&opts.HistoryLimit, "history-size", 1000, "changes retained for Watch")
	flags.DurationVar(&opts.SweepInterval, "sweep-interval", time.Minute, "how often half-created lower objects are looked for")
	flags.DurationVar(&opts.SweepGrace, "sweep-grace", 2*time.Minute, "how old a half-created lower object must be to be deleted")
	_ = cmd.MarkFlagRequired("namespace")
	os.Exit(cli.Run(cmd))
}
