package scheduler

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// bind posts the object's binding subresource, which sets its pool reference (with the pool's
// UID) and nothing else. If the object turns out to be gone, being deleted, bound elsewhere, or
// the pool was refused, the reservation just made is released again; after any other failure
// the entry stays and the next attempt binds to the same pool.
func (s *Scheduler[O, P]) bind(ctx context.Context, object O, pool string) {
	k := &s.Kind
	key := client.ObjectKeyFromObject(object)
	logger := log.FromContext(ctx).WithValues(k.Name, key, "pool", pool)
	err := s.Client.SubResource("binding").Create(ctx, object, k.NewBinding(object, pool))
	if err == nil {
		s.Recorder.Eventf(object, nil, corev1.EventTypeNormal, ReasonBound, "Scheduling", "bound to %s %s", k.PoolKind, pool)
		if err := s.markScheduled(ctx, object, pool); err != nil {
			logger.Error(err, "writing Scheduled=True")
		}
		s.queue.done(key)
		return
	}
	if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		logger.Error(err, "binding")
		s.retryAfter(key, object, errorRetryDelay)
		return
	}
	fresh := k.NewObject()
	getErr := s.APIReader.Get(ctx, key, fresh)
	if getErr != nil && !apierrors.IsNotFound(getErr) {
		logger.Error(getErr, "reading after a refused bind")
		s.retryAfter(key, object, errorRetryDelay)
		return
	}
	freshPool, _ := k.PoolRef(fresh)
	if apierrors.IsNotFound(getErr) || fresh.GetUID() != object.GetUID() || fresh.GetDeletionTimestamp() != nil ||
		(freshPool != "" && freshPool != pool) || apierrors.IsInvalid(err) {
		logger.V(1).Info("gone, being deleted, bound elsewhere or pool refused; releasing the reservation", "error", err.Error())
		s.tally.assume(object.GetUID(), "")
		if verdicts := s.submit(ctx, pool, &op[O]{remove: object.GetUID()}); verdicts[0] != nil {
			logger.Error(verdicts[0], "releasing the reservation; the ledger controller will")
		}
		if apierrors.IsInvalid(err) && getErr == nil && fresh.GetDeletionTimestamp() == nil && freshPool == "" {
			// The pool refused (being deleted): choose again.
			s.retryAfter(key, object, conflictRetryDelay)
			return
		}
		s.queue.done(key)
		return
	}
	// A conflict on an object still unbound: try the same pool again.
	s.retryAfter(key, object, conflictRetryDelay)
}

// markScheduled flips an earlier Scheduled=False to True; objects bound at once get no write. A
// conflict is retried on a fresh read, so a bound object never keeps Scheduled=False.
func (s *Scheduler[O, P]) markScheduled(ctx context.Context, object O, pool string) error {
	k := &s.Kind
	if c := meta.FindStatusCondition(*k.Conditions(object), ConditionScheduled); c == nil || c.Status == metav1.ConditionTrue {
		return nil
	}
	current := object.DeepCopyObject().(O)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		conditions := k.Conditions(current)
		if c := meta.FindStatusCondition(*conditions, ConditionScheduled); c == nil || c.Status == metav1.ConditionTrue {
			return nil
		}
		meta.SetStatusCondition(conditions, metav1.Condition{
			Type: ConditionScheduled, Status: metav1.ConditionTrue, Reason: ReasonBound,
			Message: "bound to " + k.PoolKind + " " + pool, ObservedGeneration: current.GetGeneration(),
		})
		err := s.Client.Status().Update(ctx, current)
		if apierrors.IsConflict(err) {
			fresh := k.NewObject()
			if getErr := s.APIReader.Get(ctx, client.ObjectKeyFromObject(current), fresh); getErr != nil {
				return client.IgnoreNotFound(getErr)
			}
			current = fresh
		}
		return client.IgnoreNotFound(err)
	})
}

// unschedulableNow writes Scheduled=False and a Warning event when the verdict changed, and
// keeps the object until a pool change or the retry interval.
func (s *Scheduler[O, P]) unschedulableNow(ctx context.Context, key types.NamespacedName, object O, reason, message string) {
	k := &s.Kind
	current := meta.FindStatusCondition(*k.Conditions(object), ConditionScheduled)
	if current == nil || current.Status != metav1.ConditionFalse || current.Reason != reason || current.Message != message {
		s.Recorder.Eventf(object, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s: %s", reason, message)
		updated := object.DeepCopyObject().(O)
		meta.SetStatusCondition(k.Conditions(updated), metav1.Condition{
			Type: ConditionScheduled, Status: metav1.ConditionFalse, Reason: reason, Message: message,
			ObservedGeneration: updated.GetGeneration(),
		})
		if err := s.Client.Status().Update(ctx, updated); err != nil && !apierrors.IsNotFound(err) {
			// Mostly a conflict: the object changed meanwhile; look again with the new copy.
			s.retryAfter(key, object, conflictRetryDelay)
			return
		}
	}
	s.mu.Lock()
	s.unschedulable[key] = object
	s.mu.Unlock()
	s.queue.done(key)
}
