package volumescheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// Scheduler reconciles unscheduled Volumes: it picks a pool, reserves the bytes in its ledger and
// binds the volume to it.
type Scheduler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly, after a conflict.
	APIReader client.Reader
	// Recorder receives the Scheduled and FailedScheduling events.
	Recorder events.EventRecorder
	// Policy chooses among feasible pools.
	Policy placement.Policy
	// HeartbeatGrace is how old a pool's last heartbeat may be for the pool to receive volumes.
	HeartbeatGrace time.Duration
	// RetryInterval re-examines unschedulable volumes even when no pool changes.
	RetryInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// unschedulable holds the volumes that found no pool; a pool change requeues them.
	unschedulable map[types.NamespacedName]struct{}
	// queues group the ledger writes of concurrent workers per pool.
	queues map[string]*poolQueue
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Reconcile schedules one volume.
func (s *Scheduler) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	volume := &storagev1alpha1.Volume{}
	if err := s.Client.Get(ctx, request.NamespacedName, volume); err != nil {
		s.forget(request.NamespacedName)
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ref := volume.Spec.VolumePoolRef; ref != nil {
		// Bound, by this scheduler or by hand: a bound volume never keeps Scheduled=False.
		s.forget(request.NamespacedName)
		return reconcile.Result{}, s.markScheduled(ctx, volume, ref.Name)
	}
	if volume.DeletionTimestamp != nil {
		s.forget(request.NamespacedName)
		return reconcile.Result{}, nil
	}
	pools := &storagev1alpha1.VolumePoolList{}
	if err := s.Client.List(ctx, pools); err != nil {
		return reconcile.Result{}, err
	}
	// A reservation left by an earlier attempt (this scheduler before a crash, or another one)
	// is completed rather than doubled.
	for i := range pools.Items {
		if HasReservation(&pools.Items[i], volume.UID) {
			return reconcile.Result{}, s.bind(ctx, volume, pools.Items[i].Name)
		}
	}
	candidates, reason, message := Feasible(pools.Items, volume, s.now(), s.HeartbeatGrace)
	byName := make(map[string]*storagev1alpha1.VolumePool, len(pools.Items))
	for i := range pools.Items {
		byName[pools.Items[i].Name] = &pools.Items[i]
	}
	for _, candidate := range s.order(candidates) {
		err := s.reserve(ctx, byName[candidate.Name], volume)
		if errors.Is(err, errPoolUnfit) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, s.bind(ctx, volume, candidate.Name)
	}
	if len(candidates) > 0 {
		// Every candidate filled up while we tried: the live ledgers say full.
		reason, message = ReasonPoolsFull, fmt.Sprintf("all %d pools offering volume class %q are too full", len(candidates), volume.Spec.VolumeClassRef.Name)
	}
	s.remember(request.NamespacedName)
	if err := s.markUnschedulable(ctx, volume, reason, message); err != nil {
		if apierrors.IsConflict(err) {
			// The volume changed meanwhile (often another scheduler wrote the same verdict).
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: s.RetryInterval}, nil
}

// bind posts the volume's binding subresource, which sets spec.volumePoolRef (with the pool's
// UID) and nothing else. If the volume turns out to be gone, being deleted or bound elsewhere,
// the reservation just made is released again.
func (s *Scheduler) bind(ctx context.Context, volume *storagev1alpha1.Volume, poolName string) error {
	logger := log.FromContext(ctx)
	binding := &storagev1alpha1.VolumeBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: volume.Namespace, Name: volume.Name},
		Target:     corev1.LocalObjectReference{Name: poolName},
	}
	err := s.Client.SubResource("binding").Create(ctx, volume, binding)
	if err == nil {
		s.forget(client.ObjectKeyFromObject(volume))
		s.Recorder.Eventf(volume, nil, corev1.EventTypeNormal, ReasonBound, "Scheduling", "bound to volume pool %s", poolName)
		return s.markScheduled(ctx, volume, poolName)
	}
	if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return err
	}
	fresh := &storagev1alpha1.Volume{}
	getErr := s.APIReader.Get(ctx, client.ObjectKeyFromObject(volume), fresh)
	if getErr != nil && !apierrors.IsNotFound(getErr) {
		return getErr
	}
	if apierrors.IsNotFound(getErr) || fresh.UID != volume.UID || fresh.DeletionTimestamp != nil ||
		(fresh.Spec.VolumePoolRef != nil && fresh.Spec.VolumePoolRef.Name != poolName) || apierrors.IsInvalid(err) {
		logger.V(1).Info("volume gone, being deleted, bound elsewhere or pool refused; releasing reservation", "pool", poolName, "error", err.Error())
		return release(ctx, s.Client, s.APIReader, poolName, volume.UID)
	}
	return err
}

// markScheduled flips an earlier Scheduled=False to True; volumes bound at once get no write.
// A conflict is retried on a fresh read, so a bound volume never keeps Scheduled=False.
func (s *Scheduler) markScheduled(ctx context.Context, volume *storagev1alpha1.Volume, poolName string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if c := meta.FindStatusCondition(volume.Status.Conditions, ConditionScheduled); c == nil || c.Status == metav1.ConditionTrue {
			return nil
		}
		meta.SetStatusCondition(&volume.Status.Conditions, metav1.Condition{
			Type: ConditionScheduled, Status: metav1.ConditionTrue, Reason: ReasonBound,
			Message: "bound to volume pool " + poolName, ObservedGeneration: volume.Generation,
		})
		err := s.Client.Status().Update(ctx, volume)
		if apierrors.IsConflict(err) {
			fresh := &storagev1alpha1.Volume{}
			if getErr := s.APIReader.Get(ctx, client.ObjectKeyFromObject(volume), fresh); getErr != nil {
				return client.IgnoreNotFound(getErr)
			}
			*volume = *fresh
		}
		return client.IgnoreNotFound(err)
	})
}

// markUnschedulable writes Scheduled=False and a Warning event, only when the verdict changed.
func (s *Scheduler) markUnschedulable(ctx context.Context, volume *storagev1alpha1.Volume, reason, message string) error {
	current := meta.FindStatusCondition(volume.Status.Conditions, ConditionScheduled)
	if current != nil && current.Status == metav1.ConditionFalse && current.Reason == reason && current.Message == message {
		return nil
	}
	s.Recorder.Eventf(volume, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s: %s", reason, message)
	meta.SetStatusCondition(&volume.Status.Conditions, metav1.Condition{
		Type: ConditionScheduled, Status: metav1.ConditionFalse, Reason: reason, Message: message,
		ObservedGeneration: volume.Generation,
	})
	return client.IgnoreNotFound(s.Client.Status().Update(ctx, volume))
}

func (s *Scheduler) remember(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unschedulable == nil {
		s.unschedulable = map[types.NamespacedName]struct{}{}
	}
	s.unschedulable[key] = struct{}{}
}

func (s *Scheduler) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.unschedulable, key)
}

// unschedulableRequests lists the volumes to retry after a pool changed.
func (s *Scheduler) unschedulableRequests() []reconcile.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	requests := make([]reconcile.Request, 0, len(s.unschedulable))
	for key := range s.unschedulable {
		requests = append(requests, reconcile.Request{NamespacedName: key})
	}
	return requests
}
