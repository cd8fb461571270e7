package publicaddress

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Owner kinds whose VirtualIPs are never bound to interfaces.
const (
	kindNATGateway   = "NATGateway"
	kindLoadBalancer = "LoadBalancer"
)

// ServiceOwned reports whether a NATGateway or LoadBalancer controls vip.
func ServiceOwned(vip *networkingv1alpha1.VirtualIP) bool {
	owner := metav1.GetControllerOf(vip)
	return owner != nil && owner.APIVersion == networkingv1alpha1.SchemeGroupVersion.String() &&
		(owner.Kind == kindNATGateway || owner.Kind == kindLoadBalancer)
}

// owned creates and deletes the VirtualIPs of one owner kind.
type owned struct {
	client    client.Client
	apiReader client.Reader
	recorder  events.EventRecorder
	kind      string
}

// ensure returns the VirtualIP name of owner's namespace, creating it (controlled by owner) when
// missing. It returns nil when the VirtualIP is not there yet or the name belongs to another
// object (a Warning event says so).
func (o owned) ensure(ctx context.Context, owner client.Object, name string, family corev1.IPFamily) (*networkingv1alpha1.VirtualIP, error) {
	vip := &networkingv1alpha1.VirtualIP{}
	err := o.client.Get(ctx, client.ObjectKey{Namespace: owner.GetNamespace(), Name: name}, vip)
	if apierrors.IsNotFound(err) {
		vip = &networkingv1alpha1.VirtualIP{
			ObjectMeta: metav1.ObjectMeta{Namespace: owner.GetNamespace(), Name: name},
			Spec:       networkingv1alpha1.VirtualIPSpec{Type: networkingv1alpha1.VirtualIPTypePublic, IPFamily: family},
		}
		// Created guarded: its address is usable as soon as it is allocated.
		controllerutil.AddFinalizer(vip, AddressQuarantineFinalizer)
		controller := true
		vip.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: networkingv1alpha1.SchemeGroupVersion.String(), Kind: o.kind,
			Name: owner.GetName(), UID: owner.GetUID(), Controller: &controller,
		}}
		err = o.client.Create(ctx, vip)
		if apierrors.IsAlreadyExists(err) {
			// The cache lags behind an earlier create; the VirtualIP's event requeues the owner.
			return nil, nil
		}
		return vip, err
	}
	if err != nil {
		return nil, err
	}
	if vip.DeletionTimestamp != nil {
		// In quarantine (deleted directly, or left by an earlier owner of the same name): its
		// address is not used; the VirtualIP's deletion requeues the owner, which creates a
		// new one.
		return nil, nil
	}
	if !metav1.IsControlledBy(vip, owner) {
		o.recorder.Eventf(owner, nil, corev1.EventTypeWarning, ReasonNameTaken, "CreateVirtualIP",
			"VirtualIP %s exists and is not controlled by this %s; delete or rename it", name, o.kind)
		return nil, nil
	}
	return vip, nil
}

// release deletes the VirtualIPs named that owner controls, reading them live so one created
// a moment ago is not missed. It reports whether the deletion of every one is under way or done:
// the owner does not wait for the VirtualIPs' address quarantine (see Quarantine), which runs on
// after the owner is gone.
func (o owned) release(ctx context.Context, owner client.Object, names ...string) (bool, error) {
	for _, name := range names {
		vip := &networkingv1alpha1.VirtualIP{}
		err := o.apiReader.Get(ctx, client.ObjectKey{Namespace: owner.GetNamespace(), Name: name}, vip)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if !metav1.IsControlledBy(vip, owner) || vip.DeletionTimestamp != nil {
			continue
		}
		uid := vip.UID
		err = o.client.Delete(ctx, vip, client.Preconditions{UID: &uid})
		if apierrors.IsConflict(err) {
			return false, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
	}
	return true, nil
}

// patchFinalizer adds or removes finalizer with a patch that holds only if obj is unchanged,
// so no other finalizer is lost. A conflict asks for a retry.
func patchFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string, add bool) (retry bool, err error) {
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
	if add {
		controllerutil.AddFinalizer(obj, finalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, finalizer)
	}
	err = c.Patch(ctx, obj, patch)
	if apierrors.IsConflict(err) {
		return true, nil
	}
	return false, client.IgnoreNotFound(err)
}
