package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ferrite-dev/ferrite/apis/compute/templates"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/machinecondition"
)

// ConditionReady is the Machine condition saying whether every ephemeral object the machine
// declares exists. When one cannot be created, it is False with the reason and a message
// naming each failing entry, and a Warning event with the same reason goes to the machine.
const ConditionReady = "EphemeralResourcesReady"

// Reasons of ConditionReady and of the Warning events.
const (
	// ReasonCreated: every ephemeral object exists.
	ReasonCreated = "Created"
	// ReasonCreateForbidden: the apiserver refused a create with 403, usually a ResourceQuota.
	ReasonCreateForbidden = "CreateForbidden"
	// ReasonCreateInvalid: the apiserver refused a create with 422.
	ReasonCreateInvalid = "CreateInvalid"
	// ReasonNameTaken: an object of the ephemeral name exists and is not the machine's.
	ReasonNameTaken = "EphemeralNameTaken"
	// ReasonCreateFailed: any other failure.
	ReasonCreateFailed = "CreateFailed"
)

// fieldOwner is the server-side apply manager of ConditionReady.
const fieldOwner = "ferrite-ephemeral"

// defaultRetryInterval is used when Machines.RetryInterval is unset.
const defaultRetryInterval = 30 * time.Second

// Machines creates the ephemeral objects a machine declares and deletes those it no longer
// does. Templates are immutable (Machine validation refuses a change), so an existing object is
// never updated from its template.
type Machines struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader confirms with the API server that an object exists when its create fails:
	// the cache may not show one created by an earlier pass yet.
	APIReader client.Reader
	// Recorder receives the Warning events of failed creates.
	Recorder events.EventRecorder
	// RetryInterval is how soon a machine whose objects could not all be created is tried
	// again (a quota may have been raised meanwhile, which no watch reports).
	RetryInterval time.Duration
}

// failure is an ephemeral object that could not be created.
type failure struct {
	entry  string // "volume \"root\" (Volume web-root)"
	reason string
	err    error
}

// errNameTaken means an object of the ephemeral name exists and belongs to something else.
var errNameTaken = errors.New("exists and does not belong to this machine")

// Reconcile brings one machine's ephemeral objects in line with its spec and reports the
// outcome in ConditionReady.
func (r *Machines) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	machine := &computev1alpha1.Machine{}
	if err := r.Client.Get(ctx, request.NamespacedName, machine); err != nil {
		// A deleted machine's objects are the orphan reconcilers' job.
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if machine.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	var failures []failure
	declared := 0
	wantVolumes := map[string]bool{}
	for _, entry := range machine.Spec.Volumes {
		if entry.Ephemeral == nil {
			continue
		}
		declared++
		volume := templates.Volume(machine, entry.Name, entry.Ephemeral)
		wantVolumes[volume.Name] = true
		if err := r.ensure(ctx, machine, volume); err != nil {
			failures = append(failures, newFailure(fmt.Sprintf("volume %q (Volume %s)", entry.Name, volume.Name), err))
		}
	}
	wantNICs := map[string]bool{}
	for _, entry := range machine.Spec.NetworkInterfaces {
		if entry.Ephemeral == nil {
			continue
		}
		declared++
		nic := templates.NetworkInterface(machine, entry.Name, entry.Ephemeral)
		wantNICs[nic.Name] = true
		if err := r.ensure(ctx, machine, nic); err != nil {
			failures = append(failures, newFailure(fmt.Sprintf("network interface %q (NetworkInterface %s)", entry.Name, nic.Name), err))
		}
	}
	if err := r.prune(ctx, machine, wantVolumes, wantNICs); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.report(ctx, machine, declared, failures); err != nil {
		return reconcile.Result{}, err
	}
	if len(failures) > 0 {
		return reconcile.Result{RequeueAfter: r.retryInterval()}, nil
	}
	return reconcile.Result{}, nil
}

func (r *Machines) retryInterval() time.Duration {
	if r.RetryInterval > 0 {
		return r.RetryInterval
	}
	return defaultRetryInterval
}

func newFailure(entry string, err error) failure {
	reason := ReasonCreateFailed
	switch {
	case errors.Is(err, errNameTaken):
		reason = ReasonNameTaken
	case apierrors.IsForbidden(err):
		reason = ReasonCreateForbidden
	case apierrors.IsInvalid(err):
		reason = ReasonCreateInvalid
	}
	return failure{entry: entry, reason: reason, err: err}
}

// ensure creates obj unless it exists. An existing object of the name that the machine does not
// own is an error (errNameTaken), never taken over.
func (r *Machines) ensure(ctx context.Context, machine *computev1alpha1.Machine, obj client.Object) error {
	existing := obj.DeepCopyObject().(client.Object)
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if err == nil {
		return owned(existing, machine)
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	// Creating an object that exists could be refused for another reason first (a full
	// quota), so the cache is asked before, and the API server after a refusal.
	createErr := r.Client.Create(ctx, obj)
	if createErr == nil {
		return nil
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.Get(ctx, client.ObjectKeyFromObject(obj), existing); err == nil {
		return owned(existing, machine)
	}
	return createErr
}

func owned(obj client.Object, machine *computev1alpha1.Machine) error {
	if ownedBy(obj, machine) {
		return nil
	}
	return fmt.Errorf("%s %w", obj.GetName(), errNameTaken)
}

// report writes ConditionReady through the status subresource with server-side apply, owning
// only that condition (conditions are a map keyed by type), so other writers' conditions are
// never touched. A machine that never declared ephemeral objects gets no condition.
func (r *Machines) report(ctx context.Context, machine *computev1alpha1.Machine, declared int, failures []failure) error {
	condition := metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonCreated,
		Message:            fmt.Sprintf("all %d ephemeral objects exist", declared),
		ObservedGeneration: machine.Generation,
	}
	if len(failures) > 0 {
		parts := make([]string, 0, len(failures))
		for _, f := range failures {
			parts = append(parts, f.entry+": "+f.err.Error())
		}
		condition.Status, condition.Reason = metav1.ConditionFalse, failures[0].reason
		condition.Message = fmt.Sprintf("%d of %d ephemeral objects could not be created: %s", len(failures), declared, strings.Join(parts, "; "))
	}
	current := meta.FindStatusCondition(machine.Status.Conditions, ConditionReady)
	if current == nil && declared == 0 {
		return nil
	}
	if machinecondition.Unchanged(machine, condition) {
		return nil
	}
	if len(failures) > 0 {
		r.Recorder.Eventf(machine, nil, corev1.EventTypeWarning, failures[0].reason, "CreateEphemeral", "%s", condition.Message)
	}
	return machinecondition.Apply(ctx, r.Client, machine, condition, fieldOwner)
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
