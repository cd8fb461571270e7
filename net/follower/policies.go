package follower

import (
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/policy"
)

// policy is the firewall of nic, and whether it is known: until the watches of its network
// have synced, the interface is not handed to the agent (a guest must never run unfiltered
// for a moment because the policies were not read yet).
func (p *networkWatches) policy(nic *networkingv1alpha1.NetworkInterface) (*dataplane.Policy, bool) {
	w := p.synced(networkKey{nic.Namespace, nic.Spec.NetworkRef.Name})
	if w == nil {
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
