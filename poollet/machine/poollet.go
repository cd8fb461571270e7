// Package machine is the machinepoollet: it registers one MachinePool, keeps its capacity and
// heartbeat current, and turns the Machines bound to the pool into machines of a machine runtime
// (poollet/runtime/machine/v1alpha1), with the Machine's UID as the runtime machine ID.
package machine

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Finalizer is the machinepoollet's finalizer on Machines: the runtime machine still exists.
const Finalizer = "compute.ferrite.dev/machinepoollet"

// Labels the poollet sets on every runtime machine.
const (
	LabelMachineUID       = "machinepoollet.ferrite.dev/machine-uid"
	LabelMachineNamespace = "machinepoollet.ferrite.dev/machine-namespace"
	LabelMachineName      = "machinepoollet.ferrite.dev/machine-name"
)

// DefaultIgnitionKey is the Secret key read when spec.ignitionRef.key is empty.
const DefaultIgnitionKey = "ignition.json"

// Options configure a poollet.
type Options struct {
	// PoolName is the MachinePool the poollet serves.
	PoolName string
	// ProviderID is written to the pool's spec.providerID when the poollet creates it.
	ProviderID string
	// PoolLabels are the labels of a pool the poollet creates.
	PoolLabels map[string]string
	// RuntimeEndpoint is the pool's status.runtimeEndpoint: the URL of the console endpoint
	// ferrite-apiserver connects to for machines/console (empty when it serves none).
	RuntimeEndpoint string
	// HeartbeatInterval is how often the pool's heartbeat is written. Default 10 s.
	HeartbeatInterval time.Duration
	// StatusInterval is how often the runtime's Status is read again when nothing else asked
	// for it: capacity that changes below without a change of the pool's objects (a host's
	// resources, a broker's lower pools) reaches the pool's status within it. Default 1 minute.
	StatusInterval time.Duration
	// RuntimeTimeout bounds each unary runtime call. Default 10 s.
	RuntimeTimeout time.Duration
	// OrphanSweepInterval is how often runtime machines whose Machine no longer exists are
	// deleted (also once at start). Default 1 minute.
	OrphanSweepInterval time.Duration
	// Workers is how many Machines are reconciled at once. Default 8.
	Workers int
	// DeviceRecheck is how soon a Machine whose volume or network interface is not ready yet is
	// looked at again (no watch tells the poollet when a Volume becomes available). Default 10 s.
	DeviceRecheck time.Duration
	// VolumeRecheck is how often a Machine with attached Volumes is looked at again, so that a
	// Volume grown or given new credentials reaches the hypervisor (no watch of Volumes: the
	// poollet keeps no cluster-wide cache of them, and this costs one read per attached Volume
	// of this host only). Default 20 s.
	VolumeRecheck time.Duration
	// VolumeKeyNamespace is where the passphrase Secrets of encrypted Volumes are (the
	// volumepoollet's key namespace, which tenants cannot read). Default DefaultVolumeKeyNamespace.
	VolumeKeyNamespace string
}

// DefaultVolumeKeyNamespace is the default Options.VolumeKeyNamespace.
const DefaultVolumeKeyNamespace = "ferrite-system"

func (o *Options) defaults() {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = time.Minute
	}
	if o.RuntimeTimeout <= 0 {
		o.RuntimeTimeout = 10 * time.Second
	}
	if o.OrphanSweepInterval <= 0 {
		o.OrphanSweepInterval = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.DeviceRecheck <= 0 {
		o.DeviceRecheck = 10 * time.Second
	}
	if o.VolumeRecheck <= 0 {
		o.VolumeRecheck = 20 * time.Second
	}
	if o.VolumeKeyNamespace == "" {
		o.VolumeKeyNamespace = DefaultVolumeKeyNamespace
	}
}

// NewScheme returns the scheme of the poollet's clients: the compute group, the Volumes and
// NetworkInterfaces machines attach, and core/v1 (Secrets).
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(computev1alpha1.AddToScheme(scheme))
	utilruntime.Must(networkingv1alpha1.AddToScheme(scheme))
	utilruntime.Must(storagev1alpha1.AddToScheme(scheme))
	utilruntime.Must(corev1.AddToScheme(scheme))
	return scheme
}

// ResyncPeriod is how often every Machine of the pool is reconciled without a change: it picks up
// what no watch of the poollet reports (a Volume or NetworkInterface changed after it was
// attached, a runtime machine changed behind the poollet's back).
const ResyncPeriod = 5 * time.Minute

// CacheOptions restrict the manager's cache to the pool's own Machines (the field selector
// spec.machinePoolRef.name=<pool>, which the apiserver indexes).
func CacheOptions(pool string) cache.Options {
	period := ResyncPeriod
	return cache.Options{
		SyncPeriod: &period,
		ByObject: map[client.Object]cache.ByObject{
			&computev1alpha1.Machine{}: {Field: fields.OneTermEqualSelector("spec.machinePoolRef.name", pool)},
		},
	}
}

// NewManager returns a controller-runtime manager for the pool: the poollet's scheme and the
// cache restricted to the pool's Machines, on top of base (metrics, probes, logger...).
func NewManager(config *rest.Config, pool string, base manager.Options) (ctrl.Manager, error) {
	if base.Scheme == nil {
		base.Scheme = NewScheme()
	}
	base.Cache = CacheOptions(pool)
	return ctrl.NewManager(config, base)
}

// Poollet is the machinepoollet's logic, added to a manager with Setup.
type Poollet struct {
	// Client is the manager's (cached) client; APIReader reads past the cache (Secrets,
	// Machines by UID at start).
	Client    client.Client
	APIReader client.Reader
	// Runtime is the machine runtime's client.
	Runtime runtimev1alpha1.MachineRuntimeClient
	// Recorder receives Events about Machines (runtime events) and the pool.
	Recorder events.EventRecorder
	Options

	machineEvents chan event.GenericEvent
	// poolController is the pool controller, which enqueuePool requeues.
	poolController *poolstatus.Controller
	// names maps runtime machine IDs to their Machines' keys (the watch goroutine's only).
	names map[string]types.NamespacedName
}

// Setup adds the pool controller, the heartbeat, the machine controller and the runtime
// watcher to mgr.
func (p *Poollet) Setup(mgr ctrl.Manager) error {
	if p.PoolName == "" {
		return fmt.Errorf("a pool name is required")
	}
	p.defaults()
	if p.Client == nil {
		p.Client = mgr.GetClient()
	}
	if p.APIReader == nil {
		p.APIReader = mgr.GetAPIReader()
	}
	p.machineEvents = make(chan event.GenericEvent, 1024)
	p.names = map[string]types.NamespacedName{}
	if err := p.setupPool(mgr); err != nil {
		return err
	}
	if err := p.setupMachines(mgr); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(p.heartbeat)); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(p.sweepOrphans)); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(p.watchRuntime))
}

// call returns a context for one unary runtime call.
func (p *Poollet) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.RuntimeTimeout)
}

// enqueueMachine asks the machine controller to reconcile namespace/name.
func (p *Poollet) enqueueMachine(ctx context.Context, namespace, name string) {
	if namespace == "" || name == "" {
		return
	}
	m := &computev1alpha1.Machine{}
	m.Namespace, m.Name = namespace, name
	select {
	case p.machineEvents <- event.GenericEvent{Object: m}:
	case <-ctx.Done():
	}
}

// enqueuePool asks the pool controller to re-read the runtime's Status; it never blocks.
func (p *Poollet) enqueuePool() { p.poolController.Requeue() }

func logger(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }
