package volume

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// creatingRecheck is how soon a create that outlasted the runtime timeout is asked again; the
// runtime answers that call once the create it is still running has ended.
const creatingRecheck = time.Second

// setupVolumes adds the volume controller. It sees only the pool's Volumes (the cache's field
// selector) and is triggered by Volume changes, by the runtime's Watch (volumeEvents), and by
// changes of a VolumeSnapshot that a Volume restores from.
func (p *Poollet) setupVolumes(mgr ctrl.Manager) error {
	restoring := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		volumes := &storagev1alpha1.VolumeList{}
		if err := p.Client.List(ctx, volumes, client.InNamespace(o.GetNamespace())); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, v := range volumes.Items {
			if v.Spec.SnapshotRef != nil && v.Spec.SnapshotRef.Name == o.GetName() {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: v.Namespace, Name: v.Name}})
			}
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("volumepoollet-volume").
		For(&storagev1alpha1.Volume{}).
		Watches(&storagev1alpha1.VolumeSnapshot{}, restoring).
		WatchesRawSource(source.Channel(p.volumeEvents, &handler.EnqueueRequestForObject{})).
		// Volumes are independent and every runtime call is idempotent by ID: one slow create
		// (an image import) must not hold up the others.
		WithOptions(controller.Options{MaxConcurrentReconciles: p.Workers}).
		Complete(reconcile.Func(p.reconcileVolume))
}

func (p *Poollet) reconcileVolume(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	v := &storagev1alpha1.Volume{}
	if err := p.Client.Get(ctx, req.NamespacedName, v); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if v.Spec.VolumePoolRef == nil || v.Spec.VolumePoolRef.Name != p.PoolName {
		return reconcile.Result{}, nil
	}
	if v.DeletionTimestamp != nil {
		return p.deleteVolume(ctx, v)
	}
	if !slices.Contains(v.Finalizers, Finalizer) {
		v.Finalizers = append(v.Finalizers, Finalizer)
		// The poollet has no spec write: the status subresource accepts metadata.finalizers.
		if err := p.Client.Status().Update(ctx, v); err != nil {
			return reconcile.Result{}, err
		}
	}
	class := &storagev1alpha1.VolumeClass{}
	if err := p.Client.Get(ctx, types.NamespacedName{Name: v.Spec.VolumeClassRef.Name}, class); err != nil {
		return reconcile.Result{}, fmt.Errorf("reading volume class %q: %w", v.Spec.VolumeClassRef.Name, err)
	}
	generation := v.Generation
	spec, waiting, err := p.volumeSpec(ctx, v, class)
	if err != nil {
		return reconcile.Result{}, err
	}
	if waiting != "" {
		// The source snapshot is not ready (or not on this pool): nothing is created yet.
		cond := condition(ConditionReady, false, ReasonSourceNotReady, waiting, generation)
		return reconcile.Result{RequeueAfter: p.Recheck}, p.writeStatus(ctx, v, nil, generation, cond, nil)
	}
	id := string(v.UID)
	created, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.CreateVolumeResponse, error) {
		return p.Runtime.CreateVolume(ctx, &runtimev1alpha1.CreateVolumeRequest{Volume: &runtimev1alpha1.Volume{
			Metadata: &runtimev1alpha1.ObjectMetadata{Id: id, Labels: map[string]string{
				LabelVolumeUID: id, LabelVolumeNamespace: v.Namespace, LabelVolumeName: v.Name,
			}},
			Spec: spec,
		}})
	})
	if status.Code(err) == codes.DeadlineExceeded {
		// Slow, not failed: the runtime goes on with the create (an encrypted volume's key
		// derivation, a large clone), and the next create of the ID waits for it and answers.
		cond := condition(ConditionReady, false, ReasonCreating,
			fmt.Sprintf("the runtime did not finish creating volume %s within %s; asking again", id, p.RuntimeTimeout), generation)
		return reconcile.Result{RequeueAfter: creatingRecheck}, p.writeStatus(ctx, v, nil, v.Status.ObservedGeneration, cond, nil)
	}
	if err != nil {
		cond := condition(ConditionReady, false, ReasonCreateFailed, fmt.Sprintf("creating runtime volume %s: %v", id, err), generation)
		p.warnOnChange(v, cond, "CreateVolume")
		if statusErr := p.writeStatus(ctx, v, nil, v.Status.ObservedGeneration, cond, nil); statusErr != nil {
			logger(ctx).Error(statusErr, "writing volume status", "volume", req.NamespacedName)
		}
		return reconcile.Result{}, fmt.Errorf("creating runtime volume %s: %w", id, err)
	}
	rv := created.GetVolume()
	if created.GetCreated() {
		p.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "Created", "CreateVolume", "created runtime volume %s in pool %s", id, p.PoolName)
		p.enqueuePool()
	}
	if rv.GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING {
		// Deleted behind the poollet's back; the Watch's DELETED requeues it for a new create.
		return reconcile.Result{RequeueAfter: p.Recheck}, nil
	}
	rv, resized, err := p.expand(ctx, v, class, rv)
	if err != nil {
		return reconcile.Result{}, err
	}
	if rv.GetStatus().GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
		if err := p.ensureSecrets(ctx, v, rv); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, p.writeStatus(ctx, v, rv, generation, readyCondition(rv, generation), resized)
}

// deleteVolume deletes the runtime volume of a Volume being deleted, waits until the runtime
// no longer lists it, deletes its Secrets and then removes the finalizer.
func (p *Poollet) deleteVolume(ctx context.Context, v *storagev1alpha1.Volume) (reconcile.Result, error) {
	if !slices.Contains(v.Finalizers, Finalizer) {
		return reconcile.Result{}, nil
	}
	id := string(v.UID)
	list, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListVolumesResponse, error) {
		return p.Runtime.ListVolumes(ctx, &runtimev1alpha1.ListVolumesRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: id}})
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(list.GetVolumes()) > 0 {
		if list.GetVolumes()[0].GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING {
			resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.DeleteVolumeResponse, error) {
				return p.Runtime.DeleteVolume(ctx, &runtimev1alpha1.DeleteVolumeRequest{VolumeId: id})
			})
			if err != nil {
				return reconcile.Result{}, fmt.Errorf("deleting runtime volume %s: %w", id, err)
			}
			p.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "Deleting", "DeleteVolume", "deleting runtime volume %s", id)
			if resp.GetVolume() != nil {
				// The Watch's DELETED requeues the Volume; list again then, or in a second.
				return reconcile.Result{RequeueAfter: time.Second}, nil
			}
		} else {
			return reconcile.Result{RequeueAfter: p.Recheck}, nil
		}
	}
	if err := p.deleteSecrets(ctx, v.Namespace, v.Name, v.UID); err != nil {
		return reconcile.Result{}, err
	}
	v.Finalizers = slices.DeleteFunc(v.Finalizers, func(f string) bool { return f == Finalizer })
	if err := p.Client.Status().Update(ctx, v); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	for _, typ := range []string{ConditionReady, ConditionResized} {
		p.warned.Delete(string(v.UID) + "/" + typ)
	}
	p.enqueuePool()
	return reconcile.Result{}, nil
}
