// Package quota keeps ResourceQuota status true: status.hard mirrors spec.hard and status.used
// sums, for every name in spec.hard, what the namespace's objects use. The amounts come from
// apis/core/usage, which the apiserver's quota admission uses too, so an incoming object is
// charged exactly as this controller counts a stored one.
//
// Quota admission charges status.used before the object is stored, so for a moment used holds
// charges for objects no list shows yet. The controller therefore raises used to its count at
// once, but lowers it only when the quota's status has not changed for ReleaseGrace and a
// count from a live list (not the cache) still says lower; the write is preconditioned on the
// resourceVersion it checked, so a charge made meanwhile makes it fail and start over.
package quota

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// DefaultReleaseGrace is the ReleaseGrace when none is set. A charge is made in admission and
// its object written before the request times out, which the apiserver bounds to 60 seconds by
// default (--request-timeout); waiting that long means no charge can still be in flight.
const DefaultReleaseGrace = 60 * time.Second

// ReasonUsageHeld is the reason of the Warning event on a quota whose CPU or memory is not
// lowered because machines use a class that no longer exists.
const ReasonUsageHeld = "UsageHeld"

// Controller reconciles ResourceQuotas.
type Controller struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly; used lowers only on its count.
	APIReader client.Reader
	// Recorder receives UsageHeld events; nil records none.
	Recorder events.EventRecorder
	// ResyncInterval recounts every quota periodically; counts of kinds other than machines
	// and volumes are only refreshed then.
	ResyncInterval time.Duration
	// ReleaseGrace is how long a quota's status must stay unchanged before used may be lowered:
	// longer than any admission-to-storage round trip. Zero means DefaultReleaseGrace.
	ReleaseGrace time.Duration

	mu sync.Mutex
	// unchanged remembers, per quota, the resourceVersion last seen and since when.
	unchanged map[types.NamespacedName]observed
}

type observed struct {
	resourceVersion string
	since           time.Time
}

// Reconcile recomputes one quota's status.
func (c *Controller) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	quota := &corev1alpha1.ResourceQuota{}
	if err := c.Client.Get(ctx, request.NamespacedName, quota); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(request.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	since := c.unchangedSince(request.NamespacedName, quota.ResourceVersion)
	count, err := c.count(ctx, c.Client, quota.Namespace, quota.Spec.Hard)
	if err != nil {
		return reconcile.Result{}, err
	}
	used, lowers := raised(quota.Status.Used, count)
	if lowers {
		if wait := c.grace() - time.Since(since); wait > 0 {
			// Charges may be in flight: write only what rises, and come back when the quota
			// may have been quiet long enough.
			return c.write(ctx, quota, used, wait)
		}
		return c.lower(ctx, request.NamespacedName)
	}
	c.warnHeld(quota, count, used)
	return c.write(ctx, quota, used, c.ResyncInterval)
}

// lower recounts from live lists and writes that count, on the live quota, if its status is
// still the one that has been unchanged for the grace period.
func (c *Controller) lower(ctx context.Context, key types.NamespacedName) (reconcile.Result, error) {
	quota := &corev1alpha1.ResourceQuota{}
	if err := c.APIReader.Get(ctx, key, quota); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if since := c.unchangedSince(key, quota.ResourceVersion); time.Since(since) < c.grace() {
		// The cache was behind: the quota changed more recently than it showed.
		return reconcile.Result{RequeueAfter: c.grace()}, nil
	}
	count, err := c.count(ctx, c.APIReader, quota.Namespace, quota.Spec.Hard)
	if err != nil {
		return reconcile.Result{}, err
	}
	used := lowered(quota.Status.Used, count)
	c.warnHeld(quota, count, used)
	klog.FromContext(ctx).V(2).Info("Lowering quota usage to a live count", "quota", key, "used", used)
	return c.write(ctx, quota, used, c.ResyncInterval)
}

// write stores used, status.hard and observedGeneration when they differ from quota's status,
// preconditioned on quota's resourceVersion, and asks to be called again after next.
func (c *Controller) write(ctx context.Context, quota *corev1alpha1.ResourceQuota, used corev1.ResourceList, next time.Duration) (reconcile.Result, error) {
	if equality.Semantic.DeepEqual(quota.Status.Used, used) && equality.Semantic.DeepEqual(quota.Status.Hard, quota.Spec.Hard) &&
		quota.Status.ObservedGeneration == quota.Generation {
		return reconcile.Result{RequeueAfter: next}, nil
	}
	quota.Status.Hard = quota.Spec.Hard.DeepCopy()
	quota.Status.Used = used
	quota.Status.ObservedGeneration = quota.Generation
	if err := c.Client.Status().Update(ctx, quota); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	return reconcile.Result{RequeueAfter: next}, nil
}

// warnHeld says, with an event, when a quota keeps CPU or memory above the count because
// machines use a class that no longer exists.
func (c *Controller) warnHeld(quota *corev1alpha1.ResourceQuota, count counted, used corev1.ResourceList) {
	if c.Recorder == nil || len(count.missingClasses) == 0 {
		return
	}
	for name := range count.incomplete {
		have, want := used[name], count.used[name]
		if have.Cmp(want) > 0 {
			c.Recorder.Eventf(quota, nil, corev1.EventTypeWarning, ReasonUsageHeld, "CountUsage",
				"machines use missing machine classes %v: their CPU and memory cannot be counted, so %s stays at %s (counted %s) until they are gone",
				count.missingClasses, name, have.String(), want.String())
			return
		}
	}
}

func (c *Controller) grace() time.Duration {
	if c.ReleaseGrace > 0 {
		return c.ReleaseGrace
	}
	return DefaultReleaseGrace
}

// unchangedSince returns since when the quota has had resourceVersion, as far as this
// controller has seen.
func (c *Controller) unchangedSince(key types.NamespacedName, resourceVersion string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unchanged == nil {
		c.unchanged = map[types.NamespacedName]observed{}
	}
	seen, ok := c.unchanged[key]
	if !ok || seen.resourceVersion != resourceVersion {
		seen = observed{resourceVersion: resourceVersion, since: time.Now()}
		c.unchanged[key] = seen
	}
	return seen.since
}

func (c *Controller) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.unchanged, key)
}

// SetupWithManager registers the controller (named resourcequota): machines and volumes requeue
// the quotas of their namespace, a machine class change requeues every quota.
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	quotasOfNamespace := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return c.quotas(ctx, client.InNamespace(obj.GetNamespace()))
	})
	allQuotas := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return c.quotas(ctx)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("resourcequota").
		For(&corev1alpha1.ResourceQuota{}, builder.WithPredicates(quotaChanges)).
		// Status writes (scheduling, poollets) do not change usage; spec changes, creates and deletes do.
		Watches(&computev1alpha1.Machine{}, quotasOfNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&storagev1alpha1.Volume{}, quotasOfNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&computev1alpha1.MachineClass{}, allQuotas).
		Complete(c)
}

// quotaChanges passes the quota events that can change what its status should say: creates,
// deletes and spec changes (which bump generation). Status-only updates, this controller's own
// writes and admission's charges, are ignored: reacting to its own writes would make the
// controller spin, and a charge is checked again by the periodic resync.
var quotaChanges = predicate.GenerationChangedPredicate{}

func (c *Controller) quotas(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &corev1alpha1.ResourceQuotaList{}
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, q := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&q)})
	}
	return requests
}
