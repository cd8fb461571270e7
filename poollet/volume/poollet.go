// Package volume is the volumepoollet: it registers one VolumePool, keeps its capacity and
// heartbeat current, and turns the Volumes bound to the pool and their VolumeSnapshots into
// volumes and snapshots of a volume runtime (poollet/runtime/volume/v1alpha1), with the API
// object's UID as the runtime ID. docs/volumepoollet.md describes what it does.
package volume

import (
	"context"
	"fmt"
	"sync"
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

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/poolstatus"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Finalizers of the volumepoollet: the runtime volume or snapshot still exists.
const (
	Finalizer = "storage.ferrite.dev/volumepoollet"
)

// Labels the poollet sets on every runtime volume and snapshot.
const (
	LabelVolumeUID         = "volumepoollet.ferrite.dev/volume-uid"
	LabelVolumeNamespace   = "volumepoollet.ferrite.dev/volume-namespace"
	LabelVolumeName        = "volumepoollet.ferrite.dev/volume-name"
	LabelSnapshotUID       = "volumepoollet.ferrite.dev/snapshot-uid"
	LabelSnapshotNamespace = "volumepoollet.ferrite.dev/snapshot-namespace"
	LabelSnapshotName      = "volumepoollet.ferrite.dev/snapshot-name"
)

// DefaultKeyNamespace is the namespace of the LUKS passphrase Secrets: a system namespace that
// tenants cannot read.
const DefaultKeyNamespace = "ferrite-system"

// Options configure a poollet.
type Options struct {
	// PoolName is the VolumePool the poollet serves.
	PoolName string
	// ProviderID is written to the pool's spec.providerID when the poollet creates it.
	ProviderID string
	// PoolLabels are the labels of a pool the poollet creates.
	PoolLabels map[string]string
	// KeyNamespace holds the passphrase Secrets of encrypted volumes. Default ferrite-system.
	KeyNamespace string
	// OvercommitRatio scales the physical bytes into allocatable bytes (thin provisioning
	// headroom). Default (and anything below 0.01): 1.
	OvercommitRatio float64
	// HeartbeatInterval is how often the pool's heartbeat is written. Default 10 s.
	HeartbeatInterval time.Duration
	// StatusInterval is how often the runtime's Status is read again when nothing else asked
	// for it: capacity that changes below without a change of the pool's objects (a host's
	// resources, a broker's lower pools) reaches the pool's status within it. Default 1 minute.
	StatusInterval time.Duration
	// RuntimeTimeout bounds each unary runtime call. Default 10 s.
	RuntimeTimeout time.Duration
	// OrphanSweepInterval is how often runtime volumes and snapshots whose API object no longer
	// exists are deleted (also once at start). Default 1 minute.
	OrphanSweepInterval time.Duration
	// Workers is how many Volumes (and, apart, VolumeSnapshots) are reconciled at once. Default 8.
	Workers int
	// Recheck is how soon an object that waits for another one (a Volume for its source snapshot,
	// a snapshot for its Volume, a Volume for its runtime volume to go) is looked at again
	// without an event. Default 10 s.
	Recheck time.Duration
}

func (o *Options) defaults() {
	if o.KeyNamespace == "" {
		o.KeyNamespace = DefaultKeyNamespace
	}
	if o.OvercommitRatio < 0.01 {
		o.OvercommitRatio = 1
	}
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
	if o.Recheck <= 0 {
		o.Recheck = 10 * time.Second
	}
}

// NewScheme returns the scheme of the poollet's clients: the storage group and core/v1 (Secrets).
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(storagev1alpha1.AddToScheme(scheme))
	utilruntime.Must(corev1.AddToScheme(scheme))
	return scheme
}

// ResyncPeriod is how often every cached object is reconciled without a change.
const ResyncPeriod = 5 * time.Minute

// CacheOptions restrict the manager's cache to the pool's own Volumes (the field selector
// spec.volumePoolRef.name=<pool>, which the apiserver indexes). VolumeSnapshots have no pool
// field, so they are cached cluster-wide and filtered by their Volume.
func CacheOptions(pool string) cache.Options {
	period := ResyncPeriod
	return cache.Options{
		SyncPeriod: &period,
		ByObject: map[client.Object]cache.ByObject{
			&storagev1alpha1.Volume{}: {Field: fields.OneTermEqualSelector("spec.volumePoolRef.name", pool)},
		},
	}
}

// NewManager returns a controller-runtime manager for the pool: the poollet's scheme, the cache
// restricted to the pool's Volumes, and Secrets read past the cache (the poollet may get them,
// never list or watch them), on top of base (metrics, probes, logger...).
func NewManager(config *rest.Config, pool string, base manager.Options) (ctrl.Manager, error) {
	if base.Scheme == nil {
		base.Scheme = NewScheme()
	}
	base.Cache = CacheOptions(pool)
	base.Client.Cache = &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}
	return ctrl.NewManager(config, base)
}

// Poollet is the volumepoollet's logic, added to a manager with Setup.
type Poollet struct {
	// Client is the manager's (cached) client; APIReader reads past the cache.
	Client    client.Client
	APIReader client.Reader
	// Secrets reads and writes the access and passphrase Secrets (default: Client, which reads
	// Secrets past the cache when the manager comes from NewManager).
	Secrets client.Client
	// Runtime is the volume runtime's client.
	Runtime runtimev1alpha1.VolumeRuntimeClient
	// Recorder receives Events about Volumes and VolumeSnapshots.
	Recorder events.EventRecorder
	Options

	volumeEvents   chan event.GenericEvent
	snapshotEvents chan event.GenericEvent
	// poolController is the pool controller, which enqueuePool requeues.
	poolController *poolstatus.Controller
	// warned holds the last Warning event per Volume UID and condition type (warnOnChange).
	warned sync.Map
	// names maps runtime IDs to their API objects (the watch goroutine's only).
	names map[string]object
}

// object is the API object a runtime volume or snapshot belongs to.
type object struct {
	key      types.NamespacedName
	snapshot bool
}

// Setup adds the pool, volume and snapshot controllers, the heartbeat, the orphan sweep and
// the runtime watcher to mgr.
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
	if p.Secrets == nil {
		p.Secrets = p.Client
	}
	p.volumeEvents = make(chan event.GenericEvent, 1024)
	p.snapshotEvents = make(chan event.GenericEvent, 1024)
	p.names = map[string]object{}
	for _, setup := range []func(ctrl.Manager) error{p.setupPool, p.setupVolumes, p.setupSnapshots} {
		if err := setup(mgr); err != nil {
			return err
		}
	}
	for _, run := range []manager.RunnableFunc{p.heartbeat, p.sweepOrphans, p.watchRuntime} {
		if err := mgr.Add(run); err != nil {
			return err
		}
	}
	return nil
}

// call runs one unary runtime call with the runtime timeout.
func call[T any](ctx context.Context, p *Poollet, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, p.RuntimeTimeout)
	defer cancel()
	return fn(ctx)
}

// enqueue asks the volume or snapshot controller to reconcile namespace/name.
func (p *Poollet) enqueue(ctx context.Context, o object) {
	if o.key.Namespace == "" || o.key.Name == "" {
		return
	}
	var obj client.Object
	events := p.volumeEvents
	if o.snapshot {
		obj, events = &storagev1alpha1.VolumeSnapshot{}, p.snapshotEvents
	} else {
		obj = &storagev1alpha1.Volume{}
	}
	obj.SetNamespace(o.key.Namespace)
	obj.SetName(o.key.Name)
	select {
	case events <- event.GenericEvent{Object: obj}:
	case <-ctx.Done():
	}
}

// enqueuePool asks the pool controller to re-read the runtime's Status; it never blocks.
func (p *Poollet) enqueuePool() { p.poolController.Requeue() }

func logger(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }
