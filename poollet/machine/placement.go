package machine

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// placeNetworkInterface records in the NetworkInterface's status.machinePoolRef that this
// pool's host runs it: the host's network agent watches the interfaces by that field, and so
// learns of an interface before its tap exists. Another pool's value is overwritten, because
// only the pool whose machine claims the interface attaches it.
func (p *Poollet) placeNetworkInterface(ctx context.Context, nic *networkingv1alpha1.NetworkInterface) error {
	if ref := nic.Status.MachinePoolRef; ref != nil && ref.Name == p.PoolName {
		return nil
	}
	patch := client.MergeFrom(nic.DeepCopy())
	nic.Status.MachinePoolRef = &corev1.LocalObjectReference{Name: p.PoolName}
	if err := p.Client.Status().Patch(ctx, nic, patch); err != nil {
		return fmt.Errorf("recording the pool of NetworkInterface %s: %w", nic.Name, err)
	}
	return nil
}

// releaseNetworkInterfaces clears status.machinePoolRef of the machine's NetworkInterfaces
// that still name this pool, once the machine is gone from the host: the network agent then
// stops serving them. An interface already taken by another pool is left alone.
func (p *Poollet) releaseNetworkInterfaces(ctx context.Context, m *computev1alpha1.Machine) error {
	for _, entry := range m.Spec.NetworkInterfaces {
		name := networkInterfaceName(m, entry)
		if name == "" {
			continue
		}
		nic := &networkingv1alpha1.NetworkInterface{}
		if err := p.APIReader.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: name}, nic); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("reading NetworkInterface %s: %w", name, err)
		}
		if ref := nic.Status.MachinePoolRef; ref == nil || ref.Name != p.PoolName {
			continue
		}
		patch := client.MergeFrom(nic.DeepCopy())
		nic.Status.MachinePoolRef = nil
		if err := p.Client.Status().Patch(ctx, nic, patch); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("releasing NetworkInterface %s: %w", name, err)
		}
	}
	return nil
}
