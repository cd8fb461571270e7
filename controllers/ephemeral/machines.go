package ephemeral

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// Machines creates the ephemeral objects a machine declares and deletes those it no longer does.
type Machines struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder receives EphemeralNameTaken events.
	Recorder events.EventRecorder
}

// Reconcile brings one machine's ephemeral objects in line with its spec.
func (r *Machines) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	machine := &computev1alpha1.Machine{}
	if err := r.Client.Get(ctx, request.NamespacedName, machine); err != nil {
		// A deleted machine's objects are the orphan reconcilers' job.
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if machine.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	wantVolumes := map[string]bool{}
	for _, entry := range machine.Spec.Volumes {
		if entry.Ephemeral == nil {
			continue
		}
		wantVolumes[VolumeName(machine.Name, entry.Name)] = true
		if err := r.ensure(ctx, machine, ephemeralVolume(machine, entry.Name, entry.Ephemeral)); err != nil {
			return reconcile.Result{}, err
		}
	}
	wantNICs := map[string]bool{}
	for _, entry := range machine.Spec.NetworkInterfaces {
		if entry.Ephemeral == nil {
			continue
		}
		wantNICs[NetworkInterfaceName(machine.Name, entry.Name)] = true
		if err := r.ensure(ctx, machine, ephemeralNetworkInterface(machine, entry.Name, entry.Ephemeral)); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, r.prune(ctx, machine, wantVolumes, wantNICs)
}

// ensure creates obj unless it exists; an existing object of the name that the machine does not
// own is reported, never taken over.
func (r *Machines) ensure(ctx context.Context, machine *computev1alpha1.Machine, obj client.Object) error {
	err := r.Client.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := obj.DeepCopyObject().(client.Object)
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !ownedBy(existing, machine) {
		r.Recorder.Eventf(machine, existing, corev1.EventTypeWarning, ReasonNameTaken, "CreateEphemeral",
			"%s %s exists and does not belong to this machine", existing.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
	}
	return nil
}

// prune deletes the machine's ephemeral objects whose entries left its spec.
func (r *Machines) prune(ctx context.Context, machine *computev1alpha1.Machine, wantVolumes, wantNICs map[string]bool) error {
	volumes := &storagev1alpha1.VolumeList{}
	if err := r.Client.List(ctx, volumes, client.InNamespace(machine.Namespace), client.MatchingFields{OwnerField: string(machine.UID)}); err != nil {
		return err
	}
	for i := range volumes.Items {
		if !wantVolumes[volumes.Items[i].Name] {
			if err := deleteExact(ctx, r.Client, &volumes.Items[i]); err != nil {
				return err
			}
		}
	}
	nics := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.Client.List(ctx, nics, client.InNamespace(machine.Namespace), client.MatchingFields{OwnerField: string(machine.UID)}); err != nil {
		return err
	}
	for i := range nics.Items {
		if !wantNICs[nics.Items[i].Name] {
			if err := deleteExact(ctx, r.Client, &nics.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteExact deletes obj with a UID precondition, so a re-created object of the name survives.
func deleteExact(ctx context.Context, c client.Client, obj client.Object) error {
	uid := obj.GetUID()
	err := c.Delete(ctx, obj, client.Preconditions{UID: &uid})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting %s: %w", obj.GetName(), err)
	}
	return nil
}

// ephemeralVolume is the Volume for a machine's ephemeral volume entry, claimed by the machine.
func ephemeralVolume(machine *computev1alpha1.Machine, entry string, source *computev1alpha1.EphemeralVolumeSource) *storagev1alpha1.Volume {
	return &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: machine.Namespace, Name: VolumeName(machine.Name, entry),
			OwnerReferences: []metav1.OwnerReference{ownerRef(machine)},
		},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: source.VolumeClassRef,
			Resources:      source.Resources.DeepCopy(),
			Image:          source.Image,
			ClaimRef:       &storagev1alpha1.ClaimReference{Name: machine.Name, UID: machine.UID},
		},
	}
}

// ephemeralNetworkInterface is the NetworkInterface for a machine's ephemeral NIC entry. Fixed
// addresses are kept; without any, IPAM allocates one from the network's prefix.
func ephemeralNetworkInterface(machine *computev1alpha1.Machine, entry string, source *computev1alpha1.EphemeralNetworkInterfaceSource) *networkingv1alpha1.NetworkInterface {
	nic := &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: machine.Namespace, Name: NetworkInterfaceName(machine.Name, entry),
			OwnerReferences: []metav1.OwnerReference{ownerRef(machine)},
		},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{
			NetworkRef:   source.NetworkRef,
			MachineRef:   &corev1.LocalObjectReference{Name: machine.Name},
			VirtualIPRef: source.VirtualIPRef,
		},
	}
	for _, ip := range source.IPs {
		nic.Spec.IPs = append(nic.Spec.IPs, networkingv1alpha1.IPSource{Value: ip})
	}
	return nic
}
