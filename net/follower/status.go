package follower

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// state is the status.state the interface should have: Available when its tap is in its VNI and
// its addresses are announced, Pending otherwise.
func (f *Follower) state(d desired) networkingv1alpha1.NetworkInterfaceState {
	if d.pending != "" {
		return networkingv1alpha1.NetworkInterfaceStatePending
	}
	if present, announced := f.cfg.Agent.InterfaceState(d.iface.Name); present && announced {
		return networkingv1alpha1.NetworkInterfaceStateAvailable
	}
	return networkingv1alpha1.NetworkInterfaceStatePending
}

// writeState patches status.state when it differs from what the cache holds (a patch of one
// field: the IPAM controller and the machinepoollet write the rest of the status).
func (f *Follower) writeState(ctx context.Context, d desired) error {
	want := f.state(d)
	key := d.nic.Namespace + "/" + d.nic.Name
	f.mu.Lock()
	last, seen := f.written[key]
	f.mu.Unlock()
	if d.nic.Status.State == want || seen && last == want {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"status": map[string]any{"state": want}})
	_, err := f.cfg.Client.NetworkingV1alpha1().NetworkInterfaces(d.nic.Namespace).Patch(ctx, d.nic.Name,
		types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("status of NetworkInterface %s: %w", key, err)
	}
	f.mu.Lock()
	f.written[key] = want
	f.mu.Unlock()
	f.log.Info("network interface state", "networkInterface", key, "tap", d.iface.Name, "state", want, "reason", d.pending)
	return nil
}

// forgetGone drops written states of interfaces the host no longer serves, and those the cache
// already shows (a later change by someone else is then seen afresh).
func (f *Follower) forgetGone(want []desired) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := map[string]bool{}
	for _, d := range want {
		key := d.nic.Namespace + "/" + d.nic.Name
		if last, ok := f.written[key]; ok && d.nic.Status.State != last {
			keep[key] = true
		}
	}
	for key := range f.written {
		if !keep[key] {
			delete(f.written, key)
		}
	}
}
