package volume

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	storageac "github.com/ferrite-dev/ferrite/generated/applyconfiguration/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Conditions of a Volume the poollet owns (server-side apply, field manager volumepoollet, so
// the conditions of the scheduler and the controllers stay theirs).
const (
	// ConditionReady is True when the volume is available; otherwise False with the runtime's
	// reason (ImageImporting, ...) or one of the poollet's.
	ConditionReady = "Ready"
	// ConditionResized reports the last resize: True Expanded, or False when it was refused.
	ConditionResized = "Resized"
)

// Reasons of the poollet's conditions besides the runtime's own.
const (
	ReasonAvailable      = "Available"
	ReasonSourceNotReady = "SourceNotReady"
	// ReasonCreating: the runtime's create did not answer within the runtime timeout; it is
	// still running and the poollet asks again.
	ReasonCreating         = "Creating"
	ReasonCreateFailed     = "CreateFailed"
	ReasonExpanded         = "Expanded"
	ReasonResizeNotAllowed = "ResizeNotAllowed"
	ReasonExpandFailed     = "ExpandFailed"
)

// AttributeEncryptionSecret is the access attribute naming the passphrase Secret (in the key
// namespace) of an encrypted volume.
const AttributeEncryptionSecret = "encryptionSecret"

// fieldOwner is the server-side apply manager of the poollet's conditions.
const fieldOwner = "volumepoollet"

// State maps a runtime volume state onto the Volume's status.state.
func State(s runtimev1alpha1.VolumeState) storagev1alpha1.VolumeState {
	switch s {
	case runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE:
		return storagev1alpha1.VolumeStateAvailable
	case runtimev1alpha1.VolumeState_VOLUME_STATE_ERROR:
		return storagev1alpha1.VolumeStateError
	default:
		return storagev1alpha1.VolumeStatePending
	}
}

func condition(typ string, ok bool, reason, message string, generation int64) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation}
}

// readyCondition is ConditionReady for the runtime volume rv.
func readyCondition(rv *runtimev1alpha1.Volume, generation int64) metav1.Condition {
	s := rv.GetStatus()
	if s.GetState() == runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
		return condition(ConditionReady, true, ReasonAvailable, fmt.Sprintf("the volume is available (%d bytes)", s.GetSizeBytes()), generation)
	}
	reason, message := s.GetReason(), s.GetMessage()
	if reason == "" {
		reason = string(State(s.GetState()))
	}
	if message == "" {
		message = fmt.Sprintf("the volume is %s", strings.ToLower(string(State(s.GetState()))))
	}
	return condition(ConditionReady, false, reason, message, generation)
}

// warnOnChange records a Warning event for a failed condition unless the Volume already carries
// it, so that a refusal retried on every pass is reported once.
// The cache may not show the condition written by the previous pass yet, so the last warning of
// each Volume and condition is remembered as well.
func (p *Poollet) warnOnChange(v *storagev1alpha1.Volume, c metav1.Condition, action string) {
	if current := meta.FindStatusCondition(v.Status.Conditions, c.Type); current != nil && current.Reason == c.Reason && current.Message == c.Message {
		return
	}
	key, warning := string(v.UID)+"/"+c.Type, c.Reason+": "+c.Message
	if last, ok := p.warned.Swap(key, warning); ok && last == warning {
		return
	}
	p.Recorder.Eventf(v, nil, corev1.EventTypeWarning, c.Reason, action, "%s", c.Message)
}

// access is the Volume's status.access for the runtime volume rv: the runtime's driver, handle
// and attributes, the access Secret and, for an encrypted volume, the passphrase Secret's name.
func access(v *storagev1alpha1.Volume, rv *runtimev1alpha1.Volume) *storagev1alpha1.VolumeAccess {
	a := rv.GetStatus().GetAccess()
	if a == nil || rv.GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
		return nil
	}
	out := &storagev1alpha1.VolumeAccess{Driver: a.GetDriver(), Handle: a.GetHandle(), Attributes: map[string]string{}}
	for k, val := range a.GetAttributes() {
		out.Attributes[k] = val
	}
	if len(accessData(rv)) > 0 {
		out.SecretRef = &corev1.LocalObjectReference{Name: AccessSecretName(v.Name)}
	}
	if _, ok := a.GetSecrets()[SecretKeyPassphrase]; ok {
		out.Attributes[AttributeEncryptionSecret] = PassphraseSecretName(v.UID)
	}
	return out
}

// writeStatus writes the status the runtime volume rv shows (state, volumeID, access, observed
// generation) when it changed, and the poollet's conditions. rv is nil when there is no runtime
// volume to show: only the conditions (and Pending for a new Volume) are written. resized is
// the new Resized condition, nil to keep the current one.
func (p *Poollet) writeStatus(ctx context.Context, v *storagev1alpha1.Volume, rv *runtimev1alpha1.Volume, generation int64, ready metav1.Condition, resized *metav1.Condition) error {
	want := storagev1alpha1.VolumeStatus{ObservedGeneration: v.Status.ObservedGeneration, State: v.Status.State,
		VolumeID: v.Status.VolumeID, Access: v.Status.Access}
	if rv != nil {
		want = storagev1alpha1.VolumeStatus{ObservedGeneration: generation, State: State(rv.GetStatus().GetState()),
			VolumeID: rv.GetMetadata().GetId(), Access: access(v, rv)}
	}
	if want.State == "" {
		want.State = storagev1alpha1.VolumeStatePending
	}
	have := storagev1alpha1.VolumeStatus{ObservedGeneration: v.Status.ObservedGeneration, State: v.Status.State,
		VolumeID: v.Status.VolumeID, Access: v.Status.Access}
	if !equality.Semantic.DeepEqual(want, have) {
		base := v.DeepCopy()
		want.Conditions = v.Status.Conditions
		v.Status = want
		if err := p.Client.Status().Patch(ctx, v, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
	}
	conditions := []metav1.Condition{ready}
	if resized != nil {
		conditions = append(conditions, *resized)
	} else if current := meta.FindStatusCondition(v.Status.Conditions, ConditionResized); current != nil {
		conditions = append(conditions, *current)
	}
	if unchanged(v.Status.Conditions, conditions) {
		return nil
	}
	return p.applyConditions(ctx, v, conditions)
}

// unchanged reports whether every condition is already there as given.
func unchanged(current, conditions []metav1.Condition) bool {
	for _, c := range conditions {
		have := meta.FindStatusCondition(current, c.Type)
		if have == nil || have.Status != c.Status || have.Reason != c.Reason || have.Message != c.Message || have.ObservedGeneration != c.ObservedGeneration {
			return false
		}
	}
	return true
}

// applyConditions writes the poollet's conditions with server-side apply, keeping each one's
// transition time when its status does not change. A Volume that is gone or was replaced (UID
// precondition) is not an error.
func (p *Poollet) applyConditions(ctx context.Context, v *storagev1alpha1.Volume, conditions []metav1.Condition) error {
	status := storageac.VolumeStatus()
	for _, c := range conditions {
		transition := metav1.Now()
		if current := meta.FindStatusCondition(v.Status.Conditions, c.Type); current != nil && current.Status == c.Status {
			transition = current.LastTransitionTime
		}
		status.WithConditions(metav1ac.Condition().WithType(c.Type).WithStatus(c.Status).WithReason(c.Reason).
			WithMessage(c.Message).WithObservedGeneration(c.ObservedGeneration).WithLastTransitionTime(transition))
	}
	err := p.Client.Status().Apply(ctx, storageac.Volume(v.Name, v.Namespace).WithUID(v.UID).WithStatus(status), client.FieldOwner(fieldOwner), client.ForceOwnership)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
