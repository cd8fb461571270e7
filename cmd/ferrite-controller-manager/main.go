// Command ferrite-controller-manager runs Ferrite's controllers: the machine and volume
// schedulers with their pool ledgers, pool health, ephemeral volumes and network interfaces,
// IPAM and the quota usage controller.
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/cli"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

func main() {
	options := controllermanager.NewOptions()
	var kubeconfig, leaderElectionKubeconfig string
	var leaderElect bool
	cmd := &cobra.Command{
		Use:   "ferrite-controller-manager",
		Short: "Run the Ferrite controllers (schedulers, pool health, ephemeral resources, IPAM, quota)",
		Long: `ferrite-controller-manager runs the Ferrite controllers against a ferrite-apiserver, standalone
or behind kube-apiserver.

Leader election uses a coordination.k8s.io Lease on --leader-election-kubeconfig (default: the
main kubeconfig). Without --leader-elect it is on exactly when that cluster serves Leases (a
standalone ferrite-apiserver does not). Correctness never depends on it: every placement goes
through a per-pool ledger written with optimistic concurrency.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(placement.Policies, options.SchedulerPolicy) {
				return fmt.Errorf("--scheduler-policy must be one of %v", placement.Policies)
			}
			if cmd.Flags().Changed("leader-elect") {
				options.LeaderElect = &leaderElect
			}
			config, err := loadConfig(kubeconfig)
			if err != nil {
				return err
			}
			leaderConfig := config
			if leaderElectionKubeconfig != "" {
				if leaderConfig, err = loadConfig(leaderElectionKubeconfig); err != nil {
					return err
				}
			}
			ctx := klog.NewContext(genericapiserver.SetupSignalContext(), klog.Background())
			mgr, err := newManager(ctx, config, leaderConfig, options)
			if err != nil {
				return err
			}
			return mgr.Start(ctx)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the ferrite-apiserver (or of kube-apiserver in aggregated mode); empty means in-cluster")
	cmd.Flags().StringVar(&leaderElectionKubeconfig, "leader-election-kubeconfig", "", "kubeconfig of the cluster that holds the leader election Lease (default: --kubeconfig)")
	cmd.Flags().BoolVar(&leaderElect, "leader-elect", false, "use leader election (default: on when the leader election cluster serves coordination.k8s.io Leases)")
	// The schedulers bind at the rate objects arrive (a thousand a second and more); client-side
	// throttling below that would cap them. The apiserver's flow control protects it.
	cmd.Flags().Float32Var(&apiQPS, "kube-api-qps", apiQPS, "client-side limit of requests per second to the API server")
	cmd.Flags().IntVar(&apiBurst, "kube-api-burst", apiBurst, "client-side burst of requests to the API server")
	options.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}

// apiQPS and apiBurst are the client-side rate limits of the manager's API clients.
var (
	apiQPS   float32 = 3000
	apiBurst         = 6000
)

// newManager builds the controller manager, retrying for a minute while API discovery fails: an
// aggregated API that kube-apiserver just reported Available can still answer 503 for a moment
// (after a restart of both), and the manager's set-up reads discovery once.
func newManager(ctx context.Context, config, leaderConfig *rest.Config, options *controllermanager.Options) (ctrl.Manager, error) {
	var mgr ctrl.Manager
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		if mgr, err = controllermanager.New(ctx, config, leaderConfig, options); err == nil {
			return true, nil
		} else if !discovery.IsGroupDiscoveryFailedError(err) && !strings.Contains(err.Error(), "unable to retrieve the complete list of server APIs") {
			return false, err
		}
		klog.FromContext(ctx).Info("API discovery failed; retrying", "err", err)
		return false, nil
	})
	return mgr, err
}

// loadConfig reads a kubeconfig, or the in-cluster configuration when path is empty.
func loadConfig(path string) (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	config.QPS, config.Burst = apiQPS, apiBurst
	return config, nil
}
