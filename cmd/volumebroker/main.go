// Command volumebroker serves the volume runtime (poollet/runtime/volume/v1alpha1) on a unix
// socket on top of another Ferrite cluster: every runtime volume and snapshot is a Volume or
// VolumeSnapshot in one namespace of that lower cluster, and the lower Events about them pass up
// as runtime events (docs/brokers.md). An unchanged volumepoollet of the upper cluster drives it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	brokervolume "github.com/ferrite-dev/ferrite/broker/volume"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

func main() {
	var (
		opts                     brokervolume.Options
		kubeconfig, socket, pool string
	)
	cmd := &cobra.Command{
		Use:          "volumebroker",
		Short:        "Serve the volume runtime on top of another Ferrite cluster",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			log := klog.Background()
			ctx := genericapiserver.SetupSignalContext()
			selector, err := labels.ConvertSelectorToLabelsMap(pool)
			if err != nil {
				return fmt.Errorf("--volume-pool-selector: %w", err)
			}
			opts.VolumePoolSelector = map[string]string(selector)
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("--kubeconfig: %w", err)
			}
			lower, err := versioned.NewForConfig(config)
			if err != nil {
				return err
			}
			scheme := runtime.NewScheme()
			if err := corev1.AddToScheme(scheme); err != nil {
				return err
			}
			// Secrets are read by name, uncached: the broker may not list them.
			secrets, err := client.New(config, client.Options{Scheme: scheme})
			if err != nil {
				return err
			}
			core, err := kubernetes.NewForConfig(config)
			if err != nil {
				return err
			}
			if lowerevents.Served(core.Discovery()) {
				opts.Events = core
			} else {
				log.Info("the lower cluster serves no events.k8s.io/v1 Events; lower events are not passed up")
			}
			b, err := brokervolume.New(lower, secrets, opts)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
				return err
			}
			stop, err := b.Serve(ctx, socket)
			if err != nil {
				return err
			}
			log.Info("serving the volume runtime", "socket", socket, "lower", config.Host, "namespace", opts.Namespace, "poolSelector", selector, "classes", opts.Classes)
			<-ctx.Done()
			log.Info("stopping")
			stop()
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the lower Ferrite cluster; empty means in-cluster")
	flags.StringVar(&opts.Namespace, "namespace", "default", "the lower namespace the broker's Volumes and VolumeSnapshots live in")
	flags.StringVar(&socket, "socket", "/run/ferrite/volume-runtime.sock", "the unix socket to serve the volume runtime on")
	flags.StringVar(&pool, "volume-pool-selector", "", "k=v[,k=v...]: spec.volumePoolSelector of the lower Volumes, and the lower VolumePools whose allocatable Status reports")
	flags.StringSliceVar(&opts.Classes, "classes", nil, "the volume classes the broker exposes (repeatable or comma-separated); empty exposes every lower class")
	flags.StringVar(&opts.KeyNamespace, "key-namespace", "ferrite-system", "the lower namespace of the volumes' passphrase Secrets (the lower volumepoollets' --key-namespace)")
	flags.IntVar(&opts.HistoryLimit, "history-size", 1000, "changes retained for Watch")
	os.Exit(cli.Run(cmd))
}
