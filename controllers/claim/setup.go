package claim

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// Setup registers the field indexes and the three controllers of this package: machine-claims,
// volume-claim-release and networkinterface-claim-release.
func Setup(ctx context.Context, mgr ctrl.Manager, recorder events.EventRecorder) error {
	if err := Volumes.index(ctx, mgr); err != nil {
		return err
	}
	if err := NetworkInterfaces.index(ctx, mgr); err != nil {
		return err
	}
	machines := &Machines{Client: mgr.GetClient(), Recorder: recorder}
	if err := machines.SetupWithManager(mgr); err != nil {
		return err
	}
	volumes := &Releaser[*storagev1alpha1.Volume]{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Kind: Volumes}
	if err := volumes.SetupWithManager(mgr, "volume-claim-release"); err != nil {
		return err
	}
	nics := &Releaser[*networkingv1alpha1.NetworkInterface]{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Kind: NetworkInterfaces}
	return nics.SetupWithManager(mgr, "networkinterface-claim-release")
}

// index registers MachineIndex on Machines and ClaimIndex on the kind's objects.
func (k *Kind[O]) index(ctx context.Context, mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &computev1alpha1.Machine{}, k.MachineIndex, func(obj client.Object) []string {
		return k.References(obj.(*computev1alpha1.Machine))
	})
	if err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, k.New(), k.ClaimIndex, func(obj client.Object) []string {
		if ref := k.Claim(obj.(O)); ref != nil {
			return []string{ref.Name}
		}
		return nil
	})
}

// claimChanged passes creates, deletes, and updates that change what decides a claim: the
// claim, the controlling owner, or the start of deletion. Status updates pass no further.
func (k *Kind[O]) claimChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, after := e.ObjectOld.(O), e.ObjectNew.(O)
		a, b := k.Claim(before), k.Claim(after)
		if (a == nil) != (b == nil) || (a != nil && *a != *b) {
			return true
		}
		ownerA, ownerB := controllingMachine(before), controllingMachine(after)
		if (ownerA == nil) != (ownerB == nil) || (ownerA != nil && ownerA.UID != ownerB.UID) {
			return true
		}
		return (before.GetDeletionTimestamp() == nil) != (after.GetDeletionTimestamp() == nil)
	}}
}

// toMachines maps an object of the kind to the machines that reference it and to its claimer.
func (k *Kind[O]) toMachines(c client.Client) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		machines := &computev1alpha1.MachineList{}
		if err := c.List(ctx, machines, client.InNamespace(obj.GetNamespace()), client.MatchingFields{k.MachineIndex: obj.GetName()}); err != nil {
			return nil
		}
		var requests []reconcile.Request
		for i := range machines.Items {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&machines.Items[i])})
		}
		if ref := k.Claim(obj.(O)); ref != nil {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}})
		}
		return requests
	})
}

// SetupWithManager registers the machine reconciler (named machine-claims). It reacts to spec
// changes of machines, and to the claims, owners and deletion of the objects they reference.
func (r *Machines) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("machine-claims").
		For(&computev1alpha1.Machine{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(Volumes.New(), Volumes.toMachines(r.Client), builder.WithPredicates(Volumes.claimChanged())).
		Watches(NetworkInterfaces.New(), NetworkInterfaces.toMachines(r.Client), builder.WithPredicates(NetworkInterfaces.claimChanged())).
		Complete(r)
}

// SetupWithManager registers the releaser as a controller named name. It reacts to changes of
// the objects' claims and to the claiming machines changing spec or going away.
func (r *Releaser[O]) SetupWithManager(mgr ctrl.Manager, name string) error {
	claimed := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, machine client.Object) []reconcile.Request {
		objects := r.Kind.NewList()
		if err := r.Client.List(ctx, objects, client.InNamespace(machine.GetNamespace()), client.MatchingFields{r.Kind.ClaimIndex: machine.GetName()}); err != nil {
			return nil
		}
		var requests []reconcile.Request
		_ = meta.EachListItem(objects, func(o runtime.Object) error {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))})
			return nil
		})
		return requests
	})
	hasClaim := predicate.NewPredicateFuncs(func(obj client.Object) bool { return r.Kind.Claim(obj.(O)) != nil })
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		For(r.Kind.New(), builder.WithPredicates(hasClaim, r.Kind.claimChanged())).
		Watches(&computev1alpha1.Machine{}, claimed, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
