// Package machine is the machine broker: it serves the machine runtime
// (poollet/runtime/machine/v1alpha1) on top of another Ferrite cluster, the lower cluster. Each
// runtime machine becomes, in one namespace of the lower cluster, a Machine with its network
// interfaces and user-data Secret, named and labelled after the runtime ID so that a repeated
// create finds them. It reads the lower cluster through informers only, and its Watch stream is
// fed from them, with the lower Events about its Machines passed up as runtime events.
// docs/brokers.md describes the design.
package machine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/broker/lowerevents"
	"github.com/ferrite-dev/ferrite/broker/lowersync"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/generated/informers/externalversions"
	computelisters "github.com/ferrite-dev/ferrite/generated/listers/compute/v1alpha1"
	networkinglisters "github.com/ferrite-dev/ferrite/generated/listers/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/socket"
)

// RuntimeName is the broker's name in VersionResponse.
const RuntimeName = "machinebroker"

// RuntimeVersion is the broker's own version in VersionResponse.
const RuntimeVersion = "0.1.0"

// Options configure a Broker.
type Options struct {
	// Client is the lower cluster's Ferrite API.
	Client versioned.Interface
	// Config is the lower cluster's REST config, for the machines/console subresource; nil: the
	// console calls are Unimplemented.
	Config *rest.Config
	// Secrets writes the user-data Secrets (core/v1) of the lower cluster; nil when the lower
	// cluster serves none, and then a machine with user data is refused.
	Secrets kubernetes.Interface
	// Events reads the lower cluster's events.k8s.io/v1 Events in Namespace; those about the
	// broker's Machines pass up as runtime events. nil: none do.
	Events kubernetes.Interface
	// Namespace is the lower namespace every object is made in.
	Namespace string
	// MachinePoolSelector goes into each lower Machine's spec.machinePoolSelector, and selects the
	// lower MachinePools whose allocatable Status counts.
	MachinePoolSelector map[string]string
	// Classes are the machine classes the broker exposes; empty: all the lower cluster has.
	Classes []string
	// HistoryLimit is how many changes Watch can replay. Default 1000.
	HistoryLimit int
	// SweepInterval is how often half-created objects are looked for. Default 1 minute.
	SweepInterval time.Duration
	// SweepGrace is how old a half-created object must be before the sweep deletes it (longer
	// than any create call). Default 2 minutes.
	SweepGrace time.Duration
	// Resync is the informers' resync period. Default 10 minutes.
	Resync time.Duration
}

func (o *Options) defaults() {
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}
	if o.SweepGrace <= 0 {
		o.SweepGrace = 2 * time.Minute
	}
	if o.Resync <= 0 {
		o.Resync = 10 * time.Minute
	}
}

// Broker serves the machine runtime on top of the lower cluster.
type Broker struct {
	runtimev1alpha1.UnimplementedMachineRuntimeServer

	opts    Options
	history history.Machines

	factories []lowersync.Factory
	machines  computelisters.MachineLister
	pools     computelisters.MachinePoolLister
	classes   computelisters.MachineClassLister
	nics      networkinglisters.NetworkInterfaceLister
	volumes   toolscache.Indexer
	// secrets holds the metadata of the ID-labelled Secrets (the sweep's); nil without
	// Options.Secrets.
	secrets toolscache.SharedIndexInformer
	synced  []toolscache.InformerSynced
	// events is the lower Events informer; nil without Options.Events.
	events *lowerevents.Source

	// mu guards known, the runtime view of every lower Machine with an ID label, and keeps it
	// consistent with the history's revision (ListMachines reads both under it).
	mu    sync.Mutex
	known map[string]*runtimev1alpha1.Machine
}

// volumeAccessIndex indexes lower Volumes by "driver/handle" of their status.access.
const volumeAccessIndex = "access"

// New returns a broker over opts.Client. Start runs its informers.
func New(opts Options) (*Broker, error) {
	opts.defaults()
	if opts.Client == nil || opts.Namespace == "" {
		return nil, fmt.Errorf("machine broker: a client and a namespace are required")
	}
	b := &Broker{
		opts: opts,
		// A broker that restarts has no history: it starts above every revision it may have
		// handed out before (the current time in microseconds), so watchers resync.
		history: history.NewMachines(history.Options{Limit: opts.HistoryLimit, InitialRevision: uint64(time.Now().UnixMicro())}),
		known:   map[string]*runtimev1alpha1.Machine{},
	}
	owned := externalversions.NewSharedInformerFactoryWithOptions(opts.Client, opts.Resync,
		externalversions.WithNamespace(opts.Namespace),
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelID }))
	inNamespace := externalversions.NewSharedInformerFactoryWithOptions(opts.Client, opts.Resync,
		externalversions.WithNamespace(opts.Namespace))
	pools := externalversions.NewSharedInformerFactoryWithOptions(opts.Client, opts.Resync,
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.SelectorFromSet(opts.MachinePoolSelector).String()
		}))
	cluster := externalversions.NewSharedInformerFactory(opts.Client, opts.Resync)
	b.factories = []lowersync.Factory{owned, inNamespace, pools, cluster}

	machineInformer := owned.Compute().V1alpha1().Machines()
	nicInformer := owned.Networking().V1alpha1().NetworkInterfaces()
	volumeInformer := inNamespace.Storage().V1alpha1().Volumes().Informer()
	poolInformer := pools.Compute().V1alpha1().MachinePools()
	classInformer := cluster.Compute().V1alpha1().MachineClasses()
	if err := volumeInformer.AddIndexers(toolscache.Indexers{volumeAccessIndex: volumeAccessKeys}); err != nil {
		return nil, err
	}
	var err error
	if _, err = machineInformer.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    b.machineChanged,
		UpdateFunc: func(_, obj any) { b.machineChanged(obj) },
		DeleteFunc: b.machineDeleted,
	}); err != nil {
		return nil, err
	}
	b.machines, b.nics = machineInformer.Lister(), nicInformer.Lister()
	b.pools, b.classes = poolInformer.Lister(), classInformer.Lister()
	b.volumes = volumeInformer.GetIndexer()
	b.synced = []toolscache.InformerSynced{
		machineInformer.Informer().HasSynced, nicInformer.Informer().HasSynced, volumeInformer.HasSynced,
		poolInformer.Informer().HasSynced, classInformer.Informer().HasSynced,
	}
	if opts.Secrets != nil {
		var secretFactory lowersync.Factory
		secretFactory, b.secrets = newSecretInformers(opts.Secrets, opts.Namespace, opts.Resync)
		b.factories = append(b.factories, secretFactory)
		b.synced = append(b.synced, b.secrets.HasSynced)
	}
	if opts.Events != nil {
		if b.events, err = lowerevents.New(opts.Events, opts.Namespace, b.lowerEvent); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Start runs the informers until ctx ends, waits until they have synced (lowersync.Start), and
// runs the sweep of half-created objects.
func (b *Broker) Start(ctx context.Context) error {
	if err := lowersync.Start(ctx, b.events, b.synced, b.factories...); err != nil {
		return fmt.Errorf("machine broker: %w", err)
	}
	go b.sweepLoop(ctx)
	return nil
}

// Serve starts the broker (Start) and serves the runtime on a new unix socket at path until
// stop is called; stop ends open Watch streams first. The informers run until ctx ends.
func (b *Broker) Serve(ctx context.Context, path string) (stop func(), err error) {
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	return socket.Serve(path, func(s grpc.ServiceRegistrar) {
		runtimev1alpha1.RegisterMachineRuntimeServer(s, b)
	}, b.history.Close)
}

// Version names the broker.
func (b *Broker) Version(context.Context, *runtimev1alpha1.VersionRequest) (*runtimev1alpha1.VersionResponse, error) {
	return &runtimev1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: RuntimeVersion}, nil
}

var log = klog.Background().WithName("machinebroker")
