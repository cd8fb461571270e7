package follower

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	informers "github.com/ferrite-dev/ferrite/generated/informers/externalversions"
)

// networkKey names a Network: policies, their peers and load-balancer targets never cross a
// namespace or a network.
type networkKey struct{ namespace, name string }

// networkWatch holds what the interfaces of this host in one Network are computed from, each
// selected by spec.networkRef.name: the NetworkPolicies and the NetworkInterfaces (every
// host's) for their firewalls, the LoadBalancers for their public load-balancer addresses.
type networkWatch struct {
	policies, nics, loadBalancers cache.SharedIndexInformer
	stop                          context.CancelFunc
}

// informers lists the watch's informers, for starting them and checking that all have synced.
func (w *networkWatch) informers() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{w.policies, w.nics, w.loadBalancers}
}

// networkWatches keeps one networkWatch per Network this host has interfaces in, and only
// those: an agent's watches grow with the networks it serves, not with the cluster.
type networkWatches struct {
	client versioned.Interface
	poke   func()

	mu      sync.Mutex
	watches map[networkKey]*networkWatch
}

func newNetworkWatches(client versioned.Interface, poke func()) *networkWatches {
	return &networkWatches{client: client, poke: poke, watches: map[networkKey]*networkWatch{}}
}

// keep starts the watches of the networks in want that have none and stops the others.
func (p *networkWatches) keep(ctx context.Context, want map[networkKey]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, w := range p.watches {
		if !want[key] {
			w.stop()
			delete(p.watches, key)
		}
	}
	for key := range want {
		if p.watches[key] == nil {
			p.watches[key] = p.start(ctx, key)
		}
	}
}

func (p *networkWatches) start(ctx context.Context, key networkKey) *networkWatch {
	selector := fields.OneTermEqualSelector("spec.networkRef.name", key.name).String()
	factory := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithNamespace(key.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	v1 := factory.Networking().V1alpha1()
	w := &networkWatch{
		policies:      v1.NetworkPolicies().Informer(),
		nics:          v1.NetworkInterfaces().Informer(),
		loadBalancers: v1.LoadBalancers().Informer(),
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	watchCtx, stop := context.WithCancel(ctx)
	w.stop = stop
	for _, inf := range w.informers() {
		_, _ = inf.AddEventHandler(handler)
		go inf.Run(watchCtx.Done())
	}
	return w
}

// synced returns the watch of a network once all its informers have read their first list,
// nil before: nothing computed from a partial list may reach the agent.
func (p *networkWatches) synced(key networkKey) *networkWatch {
	p.mu.Lock()
	w := p.watches[key]
	p.mu.Unlock()
	if w == nil {
		return nil
	}
	for _, inf := range w.informers() {
		if !inf.HasSynced() {
			return nil
		}
	}
	return w
}
