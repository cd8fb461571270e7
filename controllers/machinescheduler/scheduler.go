package machinescheduler

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

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/placement"
)

// Scheduler reconciles unscheduled Machines: it picks a pool, reserves a slot in its ledger and
// binds the machine to it.
type Scheduler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly, after a conflict.
	APIReader client.Reader
	// Recorder receives the Scheduled and FailedScheduling events.
	Recorder events.EventRecorder
	// Policy chooses among feasible pools.
	Policy placement.Policy
	// HeartbeatGrace is how old a pool's last heartbeat may be for the pool to receive machines.
	HeartbeatGrace time.Duration
	// RetryInterval re-examines unschedulable machines even when no pool changes.
	RetryInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// unschedulable holds the machines that found no pool; a pool change requeues them.
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

// Reconcile schedules one machine.
func (s *Scheduler) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	machine := &computev1alpha1.Machine{}
	if err := s.Client.Get(ctx, request.NamespacedName, machine); err != nil {
		s.forget(request.NamespacedName)
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if ref := machine.Spec.MachinePoolRef; ref != nil {
		// Bound, by this scheduler or by hand: a bound machine never keeps Scheduled=False.
		s.forget(request.NamespacedName)
		return reconcile.Result{}, s.markScheduled(ctx, machine, ref.Name)
	}
	if machine.DeletionTimestamp != nil {
		s.forget(request.NamespacedName)
		return reconcile.Result{}, nil
	}
	pools := &computev1alpha1.MachinePoolList{}
	if err := s.Client.List(ctx, pools); err != nil {
		return reconcile.Result{}, err
	}
	// A reservation left by an earlier attempt (this scheduler before a crash, or another one)
	// is completed rather than doubled.
	for i := range pools.Items {
		if HasReservation(&pools.Items[i], machine.UID) {
			return reconcile.Result{}, s.bind(ctx, machine, pools.Items[i].Name)
		}
	}
	candidates, reason, message := Feasible(pools.Items, machine, s.now(), s.HeartbeatGrace)
	byName := make(map[string]*computev1alpha1.MachinePool, len(pools.Items))
	for i := range pools.Items {
		byName[pools.Items[i].Name] = &pools.Items[i]
	}
	for _, candidate := range s.order(candidates) {
		err := s.reserve(ctx, byName[candidate.Name], machine)
		if errors.Is(err, errPoolUnfit) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, s.bind(ctx, machine, candidate.Name)
	}
	if len(candidates) > 0 {
		// Every candidate filled up while we tried: the live ledgers say full.
		reason, message = ReasonPoolsFull, fmt.Sprintf("all %d pools offering machine class %q are full", len(candidates), machine.Spec.MachineClassRef.Name)
	}
	s.remember(request.NamespacedName)
	if err := s.markUnschedulable(ctx, machine, reason, message); err != nil {
		if apierrors.IsConflict(err) {
			// The machine changed meanwhile (often another scheduler wrote the same verdict).
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: s.RetryInterval}, nil
}

// bind posts the machine's binding subresource, which sets spec.machinePoolRef (with the pool's
// UID) and nothing else. If the machine turns out to be gone, being deleted or bound elsewhere,
// the reservation just made is released again.
func (s *Scheduler) bind(ctx context.Context, machine *computev1alpha1.Machine, poolName string) error {
	logger := log.FromContext(ctx)
	binding := &computev1alpha1.MachineBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: machine.Namespace, Name: machine.Name},
		Target:     corev1.LocalObjectReference{Name: poolName},
	}
	err := s.Client.SubResource("binding").Create(ctx, machine, binding)
	if err == nil {
		s.forget(client.ObjectKeyFromObject(machine))
		s.Recorder.Eventf(machine, nil, corev1.EventTypeNormal, ReasonBound, "Scheduling", "bound to machine pool %s", poolName)
		return s.markScheduled(ctx, machine, poolName)
	}
	if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
		return err
	}
	fresh := &computev1alpha1.Machine{}
	getErr := s.APIReader.Get(ctx, client.ObjectKeyFromObject(machine), fresh)
	if getErr != nil && !apierrors.IsNotFound(getErr) {
		return getErr
	}
	if apierrors.IsNotFound(getErr) || fresh.UID != machine.UID || fresh.DeletionTimestamp != nil ||
		(fresh.Spec.MachinePoolRef != nil && fresh.Spec.MachinePoolRef.Name != poolName) || apierrors.IsInvalid(err) {
		logger.V(1).Info("machine gone, being deleted, bound elsewhere or pool refused; releasing reservation", "pool", poolName, "error", err.Error())
		return release(ctx, s.Client, s.APIReader, poolName, machine.UID)
	}
	return err
}

// markScheduled flips an earlier Scheduled=False to True; machines bound at once get no write.
// A conflict is retried on a fresh read, so a bound machine never keeps Scheduled=False.
func (s *Scheduler) markScheduled(ctx context.Context, machine *computev1alpha1.Machine, poolName string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if c := meta.FindStatusCondition(machine.Status.Conditions, ConditionScheduled); c == nil || c.Status == metav1.ConditionTrue {
			return nil
		}
		meta.SetStatusCondition(&machine.Status.Conditions, metav1.Condition{
			Type: ConditionScheduled, Status: metav1.ConditionTrue, Reason: ReasonBound,
			Message: "bound to machine pool " + poolName, ObservedGeneration: machine.Generation,
		})
		err := s.Client.Status().Update(ctx, machine)
		if apierrors.IsConflict(err) {
			fresh := &computev1alpha1.Machine{}
			if getErr := s.APIReader.Get(ctx, client.ObjectKeyFromObject(machine), fresh); getErr != nil {
				return client.IgnoreNotFound(getErr)
			}
			*machine = *fresh
		}
		return client.IgnoreNotFound(err)
	})
}

// markUnschedulable writes Scheduled=False and a Warning event, only when the verdict changed.
func (s *Scheduler) markUnschedulable(ctx context.Context, machine *computev1alpha1.Machine, reason, message string) error {
	current := meta.FindStatusCondition(machine.Status.Conditions, ConditionScheduled)
	if current != nil && current.Status == metav1.ConditionFalse && current.Reason == reason && current.Message == message {
		return nil
	}
	s.Recorder.Eventf(machine, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s: %s", reason, message)
	meta.SetStatusCondition(&machine.Status.Conditions, metav1.Condition{
		Type: ConditionScheduled, Status: metav1.ConditionFalse, Reason: reason, Message: message,
		ObservedGeneration: machine.Generation,
	})
	return client.IgnoreNotFound(s.Client.Status().Update(ctx, machine))
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

// unschedulableRequests lists the machines to retry after a pool changed.
func (s *Scheduler) unschedulableRequests() []reconcile.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	requests := make([]reconcile.Request, 0, len(s.unschedulable))
	for key := range s.unschedulable {
		requests = append(requests, reconcile.Request{NamespacedName: key})
	}
	return requests
}
