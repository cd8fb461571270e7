package follower

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	informers "github.com/ferrite-dev/ferrite/generated/informers/externalversions"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/policy"
)

// networkKey names a Network: policies and their peers never cross a namespace or a network.
type networkKey struct{ namespace, name string }

// networkWatch holds the NetworkPolicies and the NetworkInterfaces (every host's) of one
// Network, which the policies of this host's interfaces in it are computed from.
type networkWatch struct {
	policies, nics cache.SharedIndexInformer
	stop           context.CancelFunc
}

// policyWatches keeps one networkWatch per Network this host has interfaces in, and only
// those: an agent's watches grow with the networks it serves, not with the cluster.
type policyWatches struct {
	client versioned.Interface
	poke   func()

	mu      sync.Mutex
	watches map[networkKey]*networkWatch
}

func newPolicyWatches(client versioned.Interface, poke func()) *policyWatches {
	return &policyWatches{client: client, poke: poke, watches: map[networkKey]*networkWatch{}}
}

// keep starts the watches of the networks in want that have none and stops the others.
func (p *policyWatches) keep(ctx context.Context, want map[networkKey]bool) {
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

func (p *policyWatches) start(ctx context.Context, key networkKey) *networkWatch {
	selector := fields.OneTermEqualSelector("spec.networkRef.name", key.name).String()
	factory := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithNamespace(key.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	w := &networkWatch{
		policies: factory.Networking().V1alpha1().NetworkPolicies().Informer(),
		nics:     factory.Networking().V1alpha1().NetworkInterfaces().Informer(),
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	_, _ = w.policies.AddEventHandler(handler)
	_, _ = w.nics.AddEventHandler(handler)
	watchCtx, stop := context.WithCancel(ctx)
	w.stop = stop
	go w.policies.Run(watchCtx.Done())
	go w.nics.Run(watchCtx.Done())
	return w
}

// synced says whether the watches of a network have read their first list.
func (p *policyWatches) synced(key networkKey) bool {
	p.mu.Lock()
	w := p.watches[key]
	p.mu.Unlock()
	return w != nil && w.policies.HasSynced() && w.nics.HasSynced()
}

// policy is the firewall of nic, and whether it is known: until both watches of its network
// have synced, the interface is not handed to the agent (a guest must never run unfiltered
// for a moment because the policies were not read yet).
func (p *policyWatches) policy(nic *networkingv1alpha1.NetworkInterface) (*dataplane.Policy, bool) {
	p.mu.Lock()
	w := p.watches[networkKey{nic.Namespace, nic.Spec.NetworkRef.Name}]
	p.mu.Unlock()
	if w == nil || !w.policies.HasSynced() || !w.nics.HasSynced() {
		return nil, false
	}
	var policies []*networkingv1alpha1.NetworkPolicy
	for _, obj := range w.policies.GetStore().List() {
		if np, ok := obj.(*networkingv1alpha1.NetworkPolicy); ok {
			policies = append(policies, np)
		}
	}
	if len(policies) == 0 {
		return nil, true
	}
	var nics []*networkingv1alpha1.NetworkInterface
	for _, obj := range w.nics.GetStore().List() {
		if n, ok := obj.(*networkingv1alpha1.NetworkInterface); ok {
			nics = append(nics, n)
		}
	}
	return policy.Compute(policies, nics, nic), true
}
