// Package poolhealth turns a MachinePool's or VolumePool's Ready condition to Unknown when its
// poollet stops heartbeating. A poollet heartbeats by writing status.lastHeartbeatTime (and
// Ready=True); when the last heartbeat is older than the grace period, this controller writes
// Ready=Unknown with reason HeartbeatMissed, and the schedulers stop placing objects on the pool.
// The poollet sets Ready=True again with its next heartbeat.
package poolhealth

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// ReasonHeartbeatMissed is the reason of the Ready=Unknown condition this controller writes.
const ReasonHeartbeatMissed = "HeartbeatMissed"

// Checker holds what both pool kinds' reconcilers share.
type Checker struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Grace is how old the last heartbeat may be.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// expire marks Ready Unknown in conditions when the last heartbeat is older than the grace. It
// returns whether it changed conditions, or else how long until the heartbeat expires (zero when
// there is nothing to watch: Ready is not True).
func (c *Checker) expire(conditions *[]metav1.Condition, lastHeartbeat *metav1.Time, generation int64) (bool, time.Duration) {
	ready := meta.FindStatusCondition(*conditions, "Ready")
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return false, 0
	}
	beat := ready.LastTransitionTime.Time
	if lastHeartbeat != nil && lastHeartbeat.After(beat) {
		beat = lastHeartbeat.Time
	}
	age := c.now().Sub(beat)
	if age <= c.Grace {
		// Look again just after the heartbeat would expire.
		return false, c.Grace - age + 100*time.Millisecond
	}
	meta.SetStatusCondition(conditions, metav1.Condition{
		Type: "Ready", Status: metav1.ConditionUnknown, Reason: ReasonHeartbeatMissed, ObservedGeneration: generation,
		Message: fmt.Sprintf("no heartbeat from the poollet since %s (grace %s)", beat.UTC().Format(time.RFC3339), c.Grace),
	})
	return true, 0
}

// result turns a write error into a reconcile result; a conflict means a heartbeat came in.
func result(err error, wait time.Duration) (reconcile.Result, error) {
	if apierrors.IsConflict(err) {
		return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	return reconcile.Result{RequeueAfter: wait}, client.IgnoreNotFound(err)
}

// MachinePools reconciles MachinePool heartbeats.
type MachinePools struct{ Checker }

// Reconcile checks one pool.
func (r *MachinePools) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	pool := &computev1alpha1.MachinePool{}
	if err := r.Client.Get(ctx, request.NamespacedName, pool); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	changed, wait := r.expire(&pool.Status.Conditions, pool.Status.LastHeartbeatTime, pool.Generation)
	if !changed {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	return result(r.Client.Status().Update(ctx, pool), 0)
}

// SetupWithManager registers the controller (named machinepool-health).
func (r *MachinePools) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("machinepool-health").For(&computev1alpha1.MachinePool{}).Complete(r)
}

// VolumePools reconciles VolumePool heartbeats.
type VolumePools struct{ Checker }

// Reconcile checks one pool.
func (r *VolumePools) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	pool := &storagev1alpha1.VolumePool{}
	if err := r.Client.Get(ctx, request.NamespacedName, pool); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	changed, wait := r.expire(&pool.Status.Conditions, pool.Status.LastHeartbeatTime, pool.Generation)
	if !changed {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	return result(r.Client.Status().Update(ctx, pool), 0)
}

// SetupWithManager registers the controller (named volumepool-health).
func (r *VolumePools) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("volumepool-health").For(&storagev1alpha1.VolumePool{}).Complete(r)
}
