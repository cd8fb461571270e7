// Package volume is the volumebroker: it serves the volume runtime
// (poollet/runtime/volume/v1alpha1) on top of another Ferrite cluster, the lower cluster. Each
// runtime volume is a lower Volume `v-<id>` and each snapshot a lower VolumeSnapshot `s-<id>` in
// one namespace, labelled with the runtime ID; the lower cluster's scheduler and volumepoollets
// make them real. Reads come from informers on the lower cluster, never from a LIST per
// request, and Watch is fed from those informers, with the lower Events about the broker's
// objects passed up as runtime events (docs/brokers.md).
package volume

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	"github.com/ferrite-dev/ferrite/broker/lowersync"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/generated/informers/externalversions"
	storagelisters "github.com/ferrite-dev/ferrite/generated/listers/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	"github.com/ferrite-dev/ferrite/poollet/runtime/socket"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// LabelID is the label of every lower object the broker makes: the runtime ID (the upper
// object's UID).
const LabelID = "broker.ferrite.dev/id"

// Annotations of the lower objects that keep what the runtime request carried and the lower API
// has no field for.
const (
	// AnnotationLabels holds the runtime labels, as JSON.
	AnnotationLabels = "broker.ferrite.dev/labels"
	// AnnotationTenant holds the runtime spec's tenant.
	AnnotationTenant = "broker.ferrite.dev/tenant"
)

// RuntimeName is the name Version reports.
const RuntimeName = "volumebroker"

// Options configure a Broker.
type Options struct {
	// Namespace is the lower namespace all of the broker's objects live in.
	Namespace string
	// VolumePoolSelector is the lower Volumes' spec.volumePoolSelector, and selects the lower
	// VolumePools whose capacity Status reports.
	VolumePoolSelector map[string]string
	// Classes are the volume classes the broker exposes; empty exposes every lower class.
	Classes []string
	// KeyNamespace is the lower namespace of the passphrase Secrets (the lower volumepoollets'
	// --key-namespace). Default "ferrite-system".
	KeyNamespace string
	// ResyncPeriod is the informers' resync, which also retries credentials that could not be
	// read. Default 30s.
	ResyncPeriod time.Duration
	// ExpandWait is how long ExpandVolume waits for the lower cluster to report the new size.
	// Default 5s.
	ExpandWait time.Duration
	// DeleteWait is how long DeleteSnapshot waits for the lower VolumeSnapshot to be gone.
	// Default 8s.
	DeleteWait time.Duration
	// HistoryLimit is how many changes Watch can replay. Default 1000.
	HistoryLimit int
	// Events reads the lower cluster's events.k8s.io/v1 Events in Namespace; those about the
	// broker's Volumes and VolumeSnapshots pass up as runtime events. nil: none do.
	Events kubernetes.Interface
}

func (o *Options) setDefaults() {
	if o.KeyNamespace == "" {
		o.KeyNamespace = "ferrite-system"
	}
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = 30 * time.Second
	}
	if o.ExpandWait <= 0 {
		o.ExpandWait = 5 * time.Second
	}
	if o.DeleteWait <= 0 {
		o.DeleteWait = 8 * time.Second
	}
}

// Broker implements runtimev1alpha1.VolumeRuntimeServer over the lower cluster.
type Broker struct {
	runtimev1alpha1.UnimplementedVolumeRuntimeServer

	opts    Options
	client  versioned.Interface
	secrets client.Reader
	exposed map[string]bool

	// The informer factories: the broker's Volumes and VolumeSnapshots (namespace and ID label),
	// the served VolumePools (pool selector), the VolumeClasses.
	namespaced, pooled, cluster externalversions.SharedInformerFactory
	volumes                     storagelisters.VolumeLister
	snapshots                   storagelisters.VolumeSnapshotLister
	pools                       storagelisters.VolumePoolLister
	classes                     storagelisters.VolumeClassLister
	synced                      []toolscache.InformerSynced
	// events is the lower Events informer; nil without Options.Events.
	events *lowerevents.Source

	credentials credentialCache
	history     history.Volumes
	// mu guards the mirror and orders the history's records with it, so that a list and its
	// revision agree.
	mu     sync.Mutex
	mirror mirror
}

// New returns a broker that acts in the lower cluster through lower, and reads the lower
// Secrets (access credentials and passphrases) through secrets, by name only.
func New(lower versioned.Interface, secrets client.Reader, opts Options) (*Broker, error) {
	if opts.Namespace == "" {
		return nil, fmt.Errorf("namespace: required")
	}
	opts.setDefaults()
	b := &Broker{opts: opts, client: lower, secrets: secrets, exposed: map[string]bool{}, mirror: newMirror()}
	for _, c := range opts.Classes {
		b.exposed[c] = true
	}
	// A broker that restarts has no history: it starts above every revision it handed out.
	b.history = history.NewVolumes(history.Options{Limit: opts.HistoryLimit, InitialRevision: uint64(time.Now().UnixMicro())})

	idExists, err := labels.NewRequirement(LabelID, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	b.namespaced = externalversions.NewSharedInformerFactoryWithOptions(lower, opts.ResyncPeriod,
		externalversions.WithNamespace(opts.Namespace),
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = idExists.String() }))
	poolSelector := labels.SelectorFromSet(opts.VolumePoolSelector).String()
	b.cluster = externalversions.NewSharedInformerFactoryWithOptions(lower, opts.ResyncPeriod)
	storage := b.namespaced.Storage().V1alpha1()
	volumes, snapshots := storage.Volumes(), storage.VolumeSnapshots()
	b.pooled = externalversions.NewSharedInformerFactoryWithOptions(lower, opts.ResyncPeriod,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = poolSelector }))
	pools := b.pooled.Storage().V1alpha1().VolumePools()
	classes := b.cluster.Storage().V1alpha1().VolumeClasses()
	b.volumes, b.snapshots, b.pools, b.classes = volumes.Lister(), snapshots.Lister(), pools.Lister(), classes.Lister()

	volumeHandler, err := volumes.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.observeVolume(obj, false) },
		UpdateFunc: func(_, obj any) { b.observeVolume(obj, false) },
		DeleteFunc: func(obj any) { b.observeVolume(obj, true) },
	})
	if err != nil {
		return nil, err
	}
	snapshotHandler, err := snapshots.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.observeSnapshot(obj, false) },
		UpdateFunc: func(_, obj any) { b.observeSnapshot(obj, false) },
		DeleteFunc: func(obj any) { b.observeSnapshot(obj, true) },
	})
	if err != nil {
		return nil, err
	}
	b.synced = []toolscache.InformerSynced{volumeHandler.HasSynced, snapshotHandler.HasSynced,
		pools.Informer().HasSynced, classes.Informer().HasSynced}
	if opts.Events != nil {
		if b.events, err = lowerevents.New(opts.Events, opts.Namespace, b.lowerEvent); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Start runs the informers until ctx ends and returns once they have synced (lowersync.Start).
func (b *Broker) Start(ctx context.Context) error {
	return lowersync.Start(ctx, b.events, b.synced, b.namespaced, b.cluster, b.pooled)
}

// Register registers the broker's gRPC service.
func (b *Broker) Register(s grpc.ServiceRegistrar) {
	runtimev1alpha1.RegisterVolumeRuntimeServer(s, b)
}

// Close ends every Watch.
func (b *Broker) Close() { b.history.Close() }

// Serve starts the broker (Start) and serves it on a new unix socket at path until the returned
// stop function is called; stop ends the watches, then the server. The informers run until ctx
// ends.
func (b *Broker) Serve(ctx context.Context, path string) (stop func(), err error) {
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	return socket.Serve(path, b.Register, b.Close)
}

// Version names the broker.
func (b *Broker) Version(context.Context, *runtimev1alpha1.VersionRequest) (*runtimev1alpha1.VersionResponse, error) {
	return &runtimev1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: "v1alpha1"}, nil
}

// exposes reports whether the broker serves class.
func (b *Broker) exposes(class string) bool {
	return len(b.exposed) == 0 || b.exposed[class]
}

// exposedClasses returns the exposed classes the lower cluster has, sorted.
func (b *Broker) exposedClasses() []string {
	if len(b.exposed) > 0 {
		return slices.Sorted(maps.Keys(b.exposed))
	}
	list, _ := b.classes.List(labels.Everything())
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}
