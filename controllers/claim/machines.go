package claim

import (
	"context"
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

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/machinecondition"
)

// ConditionClaimed is the Machine condition saying whether the machine holds the claim of every
// Volume and NetworkInterface it references. A machine that references none gets no condition.
const ConditionClaimed = "Claimed"

// Reasons of ConditionClaimed; ReasonClaimedByOtherMachine is also the reason of the Warning
// event sent to the machine.
const (
	// ReasonClaimed: the machine holds every claim.
	ReasonClaimed = "Claimed"
	// ReasonClaimedByOtherMachine: another machine holds an object the machine references, or
	// controls it (its ephemeral object). The message names the object and that machine.
	ReasonClaimedByOtherMachine = "ClaimedByOtherMachine"
	// ReasonClaimPending: an object does not exist yet, is being deleted, or is still claimed
	// by an earlier machine of the same name. Written only over an existing condition, so a
	// new machine whose ephemeral objects appear a moment later goes straight to Claimed.
	ReasonClaimPending = "ClaimPending"
)

// fieldOwner is the server-side apply manager of ConditionClaimed.
const fieldOwner = "ferrite-claim"

// conflictRetryDelay is how soon a machine is reconciled again after a claim lost a
// resourceVersion race: by then the cache has usually caught up with the winning write.
const conflictRetryDelay = 100 * time.Millisecond

// verdict is the outcome for one referenced object.
type verdict int

const (
	held      verdict = iota // claimed by the machine
	pending                  // not claimable yet; an event on the object brings the machine back
	takenAway                // claimed by or belonging to another machine
	retry                    // the claim lost a race; try again on fresh data
)

// claimer is a Kind as the machine reconciler sees it, whatever its object type.
type claimer interface {
	kindName() string
	references(*computev1alpha1.Machine) []string
	claim(ctx context.Context, c client.Client, machine *computev1alpha1.Machine, name string) (verdict, string, error)
}

func (k *Kind[O]) kindName() string { return k.Name }

func (k *Kind[O]) references(m *computev1alpha1.Machine) []string { return k.References(m) }

// claim claims the object named name for machine unless someone else holds it. It returns the
// verdict and, unless held, a message naming the object and why.
func (k *Kind[O]) claim(ctx context.Context, c client.Client, machine *computev1alpha1.Machine, name string) (verdict, string, error) {
	obj := k.New()
	if err := c.Get(ctx, client.ObjectKey{Namespace: machine.Namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return pending, fmt.Sprintf("%s %s does not exist", k.Name, name), nil
		}
		return retry, "", err
	}
	if ref := k.Claim(obj); ref != nil {
		switch {
		case ref.UID == machine.UID:
			return held, "", nil
		case ref.Name == machine.Name:
			return pending, fmt.Sprintf("%s %s is still claimed by an earlier Machine %s (UID %s)", k.Name, name, ref.Name, ref.UID), nil
		default:
			return takenAway, fmt.Sprintf("%s %s is claimed by Machine %s", k.Name, name, ref.Name), nil
		}
	}
	if owner := controllingMachine(obj); owner != nil && owner.UID != machine.UID {
		if owner.Name == machine.Name {
			return pending, fmt.Sprintf("%s %s belongs to an earlier Machine %s (UID %s)", k.Name, name, owner.Name, owner.UID), nil
		}
		return takenAway, fmt.Sprintf("%s %s belongs to Machine %s", k.Name, name, owner.Name), nil
	}
	if obj.GetDeletionTimestamp() != nil {
		return pending, fmt.Sprintf("%s %s is being deleted", k.Name, name), nil
	}
	// The object carries the resourceVersion read above: the claim subresource refuses the
	// write if anything changed since, another machine's claim included.
	k.SetClaim(obj, &Ref{Name: machine.Name, UID: machine.UID})
	err := c.SubResource(Subresource).Update(ctx, obj)
	switch {
	case err == nil:
		return held, "", nil
	case apierrors.IsConflict(err), apierrors.IsNotFound(err):
		// Changed (claimed by another machine, perhaps) or gone meanwhile: decide again on
		// fresh data. A refusal (422) is returned as an error instead, retried with backoff:
		// the checks above make it the sign of a cache far behind.
		return retry, "", nil
	default:
		return retry, "", fmt.Errorf("claiming %s %s: %w", k.Name, name, err)
	}
}

// Machines claims, for each machine, the Volumes and NetworkInterfaces it references, and
// reports the outcome in ConditionClaimed.
type Machines struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder receives the ClaimedByOtherMachine Warning events.
	Recorder events.EventRecorder
	// Kinds are the claimed kinds; nil means Volumes and NetworkInterfaces.
	Kinds []claimer
}

func (r *Machines) kinds() []claimer {
	if r.Kinds != nil {
		return r.Kinds
	}
	return []claimer{Volumes, NetworkInterfaces}
}

// Reconcile claims what one machine references. A machine being deleted claims nothing more,
// and keeps what it holds (the releaser lets go once it is gone).
func (r *Machines) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	machine := &computev1alpha1.Machine{}
	if err := r.Client.Get(ctx, request.NamespacedName, machine); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if machine.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	var taken, waiting []string
	referenced, again := 0, false
	for _, kind := range r.kinds() {
		for _, name := range kind.references(machine) {
			referenced++
			v, message, err := kind.claim(ctx, r.Client, machine, name)
			if err != nil {
				return reconcile.Result{}, err
			}
			switch v {
			case takenAway:
				taken = append(taken, message)
			case pending:
				waiting = append(waiting, message)
			case retry:
				again = true
			}
		}
	}
	if again {
		return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
	}
	return reconcile.Result{}, r.report(ctx, machine, referenced, taken, waiting)
}

// report writes ConditionClaimed when it changed, through the status subresource with
// server-side apply: conditions are a map keyed by type, so the apply owns this condition only
// and never touches the others.
func (r *Machines) report(ctx context.Context, machine *computev1alpha1.Machine, referenced int, taken, waiting []string) error {
	current := meta.FindStatusCondition(machine.Status.Conditions, ConditionClaimed)
	condition := metav1.Condition{
		Type: ConditionClaimed, Status: metav1.ConditionTrue, Reason: ReasonClaimed,
		Message:            fmt.Sprintf("holds the claim of all %d referenced volumes and network interfaces", referenced),
		ObservedGeneration: machine.Generation,
	}
	switch {
	case len(taken) > 0:
		condition.Status, condition.Reason = metav1.ConditionFalse, ReasonClaimedByOtherMachine
		condition.Message = strings.Join(taken, "; ") + ": a machine cannot use what another machine uses"
	case len(waiting) > 0:
		if current == nil {
			return nil
		}
		condition.Status, condition.Reason = metav1.ConditionFalse, ReasonClaimPending
		condition.Message = strings.Join(waiting, "; ")
	case referenced == 0 && current == nil:
		return nil
	}
	if machinecondition.Unchanged(machine, condition) {
		return nil
	}
	if condition.Reason == ReasonClaimedByOtherMachine {
		r.Recorder.Eventf(machine, nil, corev1.EventTypeWarning, ReasonClaimedByOtherMachine, "Claim", "%s", condition.Message)
	}
	return machinecondition.Apply(ctx, r.Client, machine, condition, fieldOwner)
}
