// Package machinecondition writes one condition of a Machine's status with server-side apply.
// Each controller that reports on a Machine (claims, ephemeral objects) owns its own condition
// type under its own field manager, so it never clobbers the conditions of the poollet or of
// another controller, and needs no read-modify-write retry.
package machinecondition

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	computeac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/compute/v1alpha1"
)

// Unchanged reports whether the machine already carries the condition as given, so that no
// write (and no event) is needed.
func Unchanged(machine *computev1alpha1.Machine, condition metav1.Condition) bool {
	current := meta.FindStatusCondition(machine.Status.Conditions, condition.Type)
	return current != nil && current.Status == condition.Status && current.Reason == condition.Reason &&
		current.Message == condition.Message && current.ObservedGeneration == condition.ObservedGeneration
}

// Apply writes the condition through the status subresource as fieldOwner, keeping the
// transition time when the status does not change. A machine that is gone or was replaced by
// another of the same name (UID precondition) is not an error: there is nothing to report on.
func Apply(ctx context.Context, c client.Client, machine *computev1alpha1.Machine, condition metav1.Condition, fieldOwner string) error {
	transition := metav1.Now()
	if current := meta.FindStatusCondition(machine.Status.Conditions, condition.Type); current != nil && current.Status == condition.Status {
		transition = current.LastTransitionTime
	}
	apply := computeac.Machine(machine.Name, machine.Namespace).WithUID(machine.UID).
		WithStatus(computeac.MachineStatus().WithConditions(metav1ac.Condition().
			WithType(condition.Type).WithStatus(condition.Status).WithReason(condition.Reason).
			WithMessage(condition.Message).WithObservedGeneration(condition.ObservedGeneration).
			WithLastTransitionTime(transition)))
	err := c.Status().Apply(ctx, apply, client.FieldOwner(fieldOwner), client.ForceOwnership)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
