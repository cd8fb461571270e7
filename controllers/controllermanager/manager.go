package controllermanager

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// New builds a manager on config with every controller added. leaderConfig is the cluster that
// holds the leader election Lease (nil means config).
func New(ctx context.Context, config, leaderConfig *rest.Config, o *Options) (ctrl.Manager, error) {
	mgr, err := NewManager(ctx, config, leaderConfig, o)
	if err != nil {
		return nil, err
	}
	recorder := EventRecorder(mgr, config, klog.FromContext(ctx))
	if err := AddControllers(ctx, mgr, recorder, o); err != nil {
		return nil, err
	}
	return mgr, nil
}

// NewManager builds a manager with metrics, health probes and leader election, and no controllers.
func NewManager(ctx context.Context, config, leaderConfig *rest.Config, o *Options) (ctrl.Manager, error) {
	logger := klog.FromContext(ctx)
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logger) })
	registerProtobuf()
	if leaderConfig == nil {
		leaderConfig = config
	}
	leaderElect := false
	if o.LeaderElect != nil {
		leaderElect = *o.LeaderElect
	} else {
		leaderElect = serves(leaderConfig, "coordination.k8s.io/v1", "leases")
	}
	if leaderElect {
		logger.Info("leader election on", "namespace", o.LeaderElectionNamespace, "lease", o.LeaderElectionID, "host", leaderConfig.Host)
		ensureNamespace(ctx, leaderConfig, o.LeaderElectionNamespace)
	} else {
		logger.Info("leader election OFF: the cluster serves no coordination.k8s.io Leases or --leader-elect=false; correctness does not depend on it, but two managers both do the work")
	}
	mgr, err := ctrl.NewManager(config, manager.Options{
		Scheme:                        NewScheme(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddress},
		HealthProbeBindAddress:        o.HealthAddress,
		LeaderElection:                leaderElect,
		LeaderElectionConfig:          leaderConfig,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionReleaseOnCancel: true,
		Logger:                        logger,
		Controller:                    ctrlconfig.Controller{SkipNameValidation: &o.SeveralManagersInProcess},
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// setLoggerOnce gives controller-runtime's global logger the first manager's logger.
var setLoggerOnce sync.Once

// EventRecorder returns the manager's recorder when the cluster serves events.k8s.io, and a
// recorder that logs otherwise (a standalone ferrite-apiserver has no Events API).
func EventRecorder(mgr ctrl.Manager, config *rest.Config, logger klog.Logger) events.EventRecorder {
	if serves(config, "events.k8s.io/v1", "events") {
		return mgr.GetEventRecorder("ferrite-controller-manager")
	}
	logger.Info("the cluster serves no events.k8s.io/v1 Events; events are logged instead")
	return LogRecorder{Logger: logger.WithName("events")}
}

// ensureNamespace creates the Lease's namespace when it is missing (a fresh local cluster), so
// that leader election does not wait forever for a Lease it cannot create. A deployment creates
// the namespace itself; failures here are only logged.
func ensureNamespace(ctx context.Context, config *rest.Config, name string) {
	logger := klog.FromContext(ctx)
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		logger.Error(err, "leader election namespace not checked")
		return
	}
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	switch {
	case err == nil:
		logger.Info("created the leader election namespace", "namespace", name)
	case !apierrors.IsAlreadyExists(err):
		logger.Error(err, "leader election namespace could not be created; create it", "namespace", name)
	}
}

// serves asks discovery whether the cluster serves resource in groupVersion.
func serves(config *rest.Config, groupVersion, resource string) bool {
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return false
	}
	resources, err := client.ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return false
	}
	for _, r := range resources.APIResources {
		if r.Name == resource {
			return true
		}
	}
	return false
}
