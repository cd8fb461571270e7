// Package poolhealth turns a MachinePool's or VolumePool's Ready condition to Unknown when its
// poollet stops heartbeating. A poollet heartbeats with a merge patch of status.lastHeartbeatTime
// and Ready=True. Freshness is judged by the controller manager's clock, not the poollet's: per
// pool, the controller remembers the last heartbeat value it saw and when it first saw it, and
// once no new value has been seen for longer than the grace period it writes Ready=Unknown with
// reason HeartbeatMissed (a status update preconditioned on the resourceVersion that changes
// nothing but Ready), so the schedulers, which trust the Ready condition alone, stop placing
// objects on the pool. The poollet sets Ready=True again with its next heartbeat.
//
// The poollet's timestamp is compared with the manager's clock only when a pool is first seen
// (after a manager start, or when the pool is created): a timestamp already older than the grace
// makes the pool stale at once, any other (even one in the future) counts as seen now. A dead
// pool whose poollet's clock runs ahead thus turns Unknown after the grace, and a live one whose
// clock runs behind turns Ready again with its next heartbeat.
package poolhealth

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// ReasonHeartbeatMissed is the reason of the Ready=Unknown condition this controller writes.
const ReasonHeartbeatMissed = "HeartbeatMissed"

// conditionReady is the condition type poollets refresh with every heartbeat (the same for both
// pool kinds).
const conditionReady = computev1alpha1.MachinePoolConditionReady

// recheckDelay is how long after a heartbeat would expire the pool is looked at again.
const recheckDelay = 100 * time.Millisecond

// Checker holds what both pool kinds' reconcilers share.
type Checker struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Grace is how long the controller manager may go without seeing a new heartbeat.
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

// observation is what the controller knows of one pool's heartbeats.
type observation struct {
	uid types.UID
	// beat is the last heartbeat value seen.
	beat time.Time
	// seen is when beat was first seen, by the manager's clock; zero when the pool's first value
	// was already older than the grace (no heartbeat has been seen since then).
	seen time.Time
	// expires is when the pool turns stale unless a new value is seen.
	expires time.Time
}

// tracker remembers the heartbeats of the pools of one kind, in memory. Its zero value is
// ready to use.
type tracker struct {
	mu    sync.Mutex
	pools map[string]observation // by pool name; a different UID is a new pool
}

// observe records that the pool had heartbeat value beat at now, and returns what is known.
func (t *tracker) observe(name string, uid types.UID, beat, now time.Time, grace time.Duration) observation {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pools == nil {
		t.pools = map[string]observation{}
	}
	o, known := t.pools[name]
	known = known && o.uid == uid
	if known && o.beat.Equal(beat) {
		return o
	}
	o = observation{uid: uid, beat: beat, seen: now, expires: now.Add(grace)}
	if !known && now.Sub(beat) > grace {
		// First sight of a value already older than the grace by our clock: stale at once.
		o.seen, o.expires = time.Time{}, beat.Add(grace)
	}
	t.pools[name] = o
	return o
}

// forget drops a deleted pool.
func (t *tracker) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pools, name)
}

// check reconciles one pool of either kind. pool is an empty object of the kind, and status
// returns the pool's conditions and last heartbeat once pool has been read into.
func (c *Checker) check(ctx context.Context, beats *tracker, name types.NamespacedName, pool client.Object, status func() (*[]metav1.Condition, *metav1.Time)) (reconcile.Result, error) {
	if err := c.Client.Get(ctx, name, pool); err != nil {
		if apierrors.IsNotFound(err) {
			beats.forget(name.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	conditions, heartbeat := status()
	ready := meta.FindStatusCondition(*conditions, conditionReady)
	// The heartbeat value is status.lastHeartbeatTime; a pool that has never had one (Ready set
	// by hand) is judged by its Ready transition time instead.
	var beat time.Time
	switch {
	case heartbeat != nil:
		beat = heartbeat.Time
	case ready != nil:
		beat = ready.LastTransitionTime.Time
	}
	now := c.now()
	o := beats.observe(pool.GetName(), pool.GetUID(), beat, now, c.Grace)
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return reconcile.Result{}, nil
	}
	if !now.After(o.expires) {
		// Look again just after the heartbeat would expire.
		return reconcile.Result{RequeueAfter: o.expires.Sub(now) + recheckDelay}, nil
	}
	message := fmt.Sprintf("no new heartbeat observed by the controller manager since %s (grace %s)", o.seen.UTC().Format(time.RFC3339), c.Grace)
	if o.seen.IsZero() {
		message = fmt.Sprintf("the last heartbeat, at %s by the poollet's clock, was already older than the grace %s when the controller manager first observed it", beat.UTC().Format(time.RFC3339), c.Grace)
	}
	meta.SetStatusCondition(conditions, metav1.Condition{
		Type: conditionReady, Status: metav1.ConditionUnknown, Reason: ReasonHeartbeatMissed,
		ObservedGeneration: pool.GetGeneration(), Message: message,
	})
	// The cached object carries its resourceVersion: a heartbeat or a ledger write that came in
	// meanwhile makes this a conflict, and the rest of status is written back as read.
	return result(c.Client.Status().Update(ctx, pool))
}

// result turns a write error into a reconcile result; a conflict means the pool changed (maybe a
// heartbeat came in): look again once the cache has it.
func result(err error) (reconcile.Result, error) {
	if apierrors.IsConflict(err) {
		return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	return reconcile.Result{}, client.IgnoreNotFound(err)
}

// MachinePools reconciles MachinePool heartbeats.
type MachinePools struct {
	Checker
	beats tracker
}

// Reconcile checks one pool.
func (r *MachinePools) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	pool := &computev1alpha1.MachinePool{}
	return r.check(ctx, &r.beats, request.NamespacedName, pool, func() (*[]metav1.Condition, *metav1.Time) {
		return &pool.Status.Conditions, pool.Status.LastHeartbeatTime
	})
}

// SetupWithManager registers the controller (named machinepool-health).
func (r *MachinePools) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("machinepool-health").For(&computev1alpha1.MachinePool{}).Complete(r)
}

// VolumePools reconciles VolumePool heartbeats.
type VolumePools struct {
	Checker
	beats tracker
}

// Reconcile checks one pool.
func (r *VolumePools) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	pool := &storagev1alpha1.VolumePool{}
	return r.check(ctx, &r.beats, request.NamespacedName, pool, func() (*[]metav1.Condition, *metav1.Time) {
		return &pool.Status.Conditions, pool.Status.LastHeartbeatTime
	})
}

// SetupWithManager registers the controller (named volumepool-health).
func (r *VolumePools) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("volumepool-health").For(&storagev1alpha1.VolumePool{}).Complete(r)
}
