package claim

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// ReasonReleased is the reason of the Normal event sent to an object whose claim was released.
const ReasonReleased = "ClaimReleased"

// Releaser clears the claim of objects of one kind whose claiming machine no longer uses them.
type Releaser[O client.Object] struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server, before a release, that the machine is gone or no
	// longer references the object: a lagging cache must never release a claim in use.
	APIReader client.Reader
	// Recorder receives the ClaimReleased events.
	Recorder events.EventRecorder
	// Kind is the kind released.
	Kind *Kind[O]
}

// Reconcile releases the object's claim if its machine (by UID) is gone, or exists, is not being
// deleted and no longer references the object.
func (r *Releaser[O]) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	obj := r.Kind.New()
	if err := r.Client.Get(ctx, request.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	ref := r.Kind.Claim(obj)
	if ref == nil {
		return reconcile.Result{}, nil
	}
	key := client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}
	machine := &computev1alpha1.Machine{}
	err := r.Client.Get(ctx, key, machine)
	if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	if err == nil && r.Kind.usedBy(machine, ref, obj.GetName()) {
		return reconcile.Result{}, nil
	}
	// The cache says the claim is unused; only the API server may confirm it.
	machine = &computev1alpha1.Machine{}
	err = r.APIReader.Get(ctx, key, machine)
	if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	}
	why := "the machine is gone"
	if err == nil {
		if r.Kind.usedBy(machine, ref, obj.GetName()) {
			return reconcile.Result{}, nil
		}
		if machine.UID == ref.UID {
			why = "the machine no longer references it"
		}
	}
	// The object still carries the resourceVersion the claim was read at: a release never
	// clears a newer claim.
	r.Kind.SetClaim(obj, nil)
	err = r.Client.SubResource(Subresource).Update(ctx, obj)
	switch {
	case apierrors.IsNotFound(err):
		return reconcile.Result{}, nil
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("releasing %s %s: %w", r.Kind.Name, obj.GetName(), err)
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, ReasonReleased, "Release",
		"released the claim of Machine %s (UID %s): %s", ref.Name, ref.UID, why)
	return reconcile.Result{}, nil
}
