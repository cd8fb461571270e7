// Package startup is what both poollet commands (cmd/machinepoollet, cmd/volumepoollet) do
// before their poollet runs: the flags they share that are not a poollet's Options, and from
// them the pool's labels, the API's client config, the runtime connection, the logger, the
// signal context and the manager's options.
package startup

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	"github.com/ferrite-dev/ferrite/poollet/runtimeconn"
)

// Flags are the flags both poollet commands have apart from their poollet's Options.
type Flags struct {
	// Kubeconfig is the Ferrite API's kubeconfig; empty means in-cluster.
	Kubeconfig string
	// RuntimeEndpoint is the runtime's socket, unix:///path.
	RuntimeEndpoint string
	// PoolLabels are the labels of a pool the poollet creates, k=v[,k=v...].
	PoolLabels string
	// MetricsAddress and HealthAddress are where the manager serves metrics and health
	// probes; "0" disables them.
	MetricsAddress, HealthAddress string
	// APIQPS and APIBurst are the client-side rate limits of the poollet's API requests.
	APIQPS   float32
	APIBurst int
}

// AddFlags adds f's flags to flags. kind ("machine" or "volume") names the runtime, whose socket
// is by default /run/ferrite/<kind>-runtime.sock.
func (f *Flags) AddFlags(flags *pflag.FlagSet, kind string) {
	flags.StringVar(&f.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the Ferrite API; empty means in-cluster")
	flags.StringVar(&f.RuntimeEndpoint, "runtime-endpoint", "unix:///run/ferrite/"+kind+"-runtime.sock", "the "+kind+" runtime's socket, unix:///path")
	flags.StringVar(&f.PoolLabels, "pool-labels", "", "labels of the pool when the poollet creates it, k=v[,k=v...] (e.g. topology.ferrite.dev/zone=a)")
	flags.StringVar(&f.MetricsAddress, "metrics-bind-address", "0", "metrics address; 0 disables")
	flags.StringVar(&f.HealthAddress, "health-probe-bind-address", "0", "health probe address; 0 disables")
	// client-go's defaults (5 per second, bursts of 10) made a burst of creates wait on the
	// poollet's own throttle (each object takes several requests); the apiserver's flow control
	// protects it from many poollets.
	flags.Float32Var(&f.APIQPS, "kube-api-qps", 50, "client-side limit of requests per second to the API server")
	flags.IntVar(&f.APIBurst, "kube-api-burst", 100, "client-side burst of requests to the API server")
}

// Env is what a poollet command runs with.
type Env struct {
	// PoolLabels are the parsed --pool-labels.
	PoolLabels map[string]string
	// Config is the Ferrite API's client config.
	Config *rest.Config
	// Conn is the runtime connection; the command closes it when it ends.
	Conn *grpc.ClientConn
	// Logger is the command's logger, also controller-runtime's.
	Logger klog.Logger
	// Context carries Logger and ends on SIGTERM or SIGINT.
	Context context.Context
	// Manager are the manager's options: Logger, the metrics and the health probe addresses.
	Manager manager.Options
}

// Start parses the pool labels, builds the API's client config, opens the runtime connection
// (lazily: it connects on the first call) and sets up logging and the signal context. It may be
// called once per process.
func (f *Flags) Start() (*Env, error) {
	poolLabels, err := poolstatus.ParseLabels(f.PoolLabels)
	if err != nil {
		return nil, fmt.Errorf("--pool-labels: %w", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", f.Kubeconfig)
	if err != nil {
		return nil, err
	}
	config.QPS, config.Burst = f.APIQPS, f.APIBurst
	conn, err := runtimeconn.Dial(f.RuntimeEndpoint)
	if err != nil {
		return nil, err
	}
	logger := klog.Background()
	ctrllog.SetLogger(logger)
	return &Env{
		PoolLabels: poolLabels,
		Config:     config,
		Conn:       conn,
		Logger:     logger,
		Context:    klog.NewContext(genericapiserver.SetupSignalContext(), logger),
		Manager: manager.Options{
			Logger:                 logger,
			Metrics:                metricsserver.Options{BindAddress: f.MetricsAddress},
			HealthProbeBindAddress: f.HealthAddress,
		},
	}, nil
}
