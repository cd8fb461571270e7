// Command volumebroker serves the volume runtime (poollet/runtime/volume/v1alpha1) on a unix
// socket on top of another Ferrite cluster: every runtime volume and snapshot is a Volume or
// VolumeSnapshot in one namespace of that lower cluster, and the lower Events about them pass up
// as runtime events (docs/brokers.md). An unchanged volumepoollet of the upper cluster drives it.
package main

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrite-dev/ferrite/broker/brokercmd"
	brokervolume "github.com/ferrite-dev/ferrite/broker/volume"
)

func main() {
	var opts brokervolume.Options
	cmd := brokercmd.Command("volumebroker", "Serve the volume runtime on top of another Ferrite cluster",
		brokercmd.Runtime{Kind: "volume", Namespace: "default"}, func(lower brokercmd.Lower) (brokercmd.Broker, error) {
			opts.Namespace, opts.VolumePoolSelector, opts.Classes, opts.HistoryLimit = lower.Namespace, lower.PoolSelector, lower.Classes, lower.HistorySize
			opts.Events = lower.Events
			scheme := runtime.NewScheme()
			if err := corev1.AddToScheme(scheme); err != nil {
				return nil, err
			}
			// Secrets are read by name, uncached: the broker may not list them.
			secrets, err := client.New(lower.Config, client.Options{Scheme: scheme})
			if err != nil {
				return nil, err
			}
			return brokervolume.New(lower.Client, secrets, opts)
		})
	cmd.Flags().StringVar(&opts.KeyNamespace, "key-namespace", "ferrite-system", "the lower namespace of the volumes' passphrase Secrets (the lower volumepoollets' --key-namespace)")
	brokercmd.Main(cmd)
}
