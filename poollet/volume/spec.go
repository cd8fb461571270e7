package volume

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Capabilities of a VolumeClass the poollet turns into QoS.
const (
	CapabilityIOPS corev1.ResourceName = "iops"
	CapabilityTPS  corev1.ResourceName = "tps"
)

// volumeSpec is the runtime spec of v: class, size, tenant, source, QoS and encryption. When
// the source snapshot cannot be used yet, waiting says why and the spec is nil.
func (p *Poollet) volumeSpec(ctx context.Context, v *storagev1alpha1.Volume, class *storagev1alpha1.VolumeClass) (spec *runtimev1alpha1.VolumeSpec, waiting string, err error) {
	spec = &runtimev1alpha1.VolumeSpec{
		Class:     class.Name,
		SizeBytes: sizeBytes(v),
		Tenant:    v.Namespace,
		Qos: &runtimev1alpha1.QoS{
			IopsLimit:           capability(class, CapabilityIOPS),
			BytesPerSecondLimit: capability(class, CapabilityTPS),
		},
	}
	if enc := class.Encryption; enc != nil && enc.Format == storagev1alpha1.EncryptionFormatLUKS2 {
		spec.Encryption = &runtimev1alpha1.Encryption{Format: runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}
	}
	switch {
	case v.Spec.SnapshotRef != nil:
		id, waiting, err := p.sourceSnapshot(ctx, v.Namespace, v.Spec.SnapshotRef.Name)
		if err != nil || waiting != "" {
			return nil, waiting, err
		}
		spec.Source = &runtimev1alpha1.VolumeSpec_Snapshot{Snapshot: &runtimev1alpha1.SnapshotSource{SnapshotId: id}}
	case v.Spec.Image != "":
		spec.Source = &runtimev1alpha1.VolumeSpec_Image{Image: &runtimev1alpha1.ImageSource{Image: v.Spec.Image}}
	}
	return spec, "", nil
}

// sourceSnapshot returns the runtime ID of the VolumeSnapshot namespace/name, or why a volume
// cannot be restored from it yet: it must be Ready and held by this pool's runtime.
func (p *Poollet) sourceSnapshot(ctx context.Context, namespace, name string) (id, waiting string, err error) {
	snap := &storagev1alpha1.VolumeSnapshot{}
	if err := p.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, snap); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Sprintf("VolumeSnapshot %s does not exist", name), nil
		}
		return "", "", err
	}
	if snap.Status.State != storagev1alpha1.VolumeSnapshotStateReady || snap.Status.SnapshotID == "" {
		return "", fmt.Sprintf("VolumeSnapshot %s is not Ready", name), nil
	}
	list, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ListSnapshotsResponse, error) {
		return p.Runtime.ListSnapshots(ctx, &runtimev1alpha1.ListSnapshotsRequest{Filter: &runtimev1alpha1.ObjectFilter{Id: snap.Status.SnapshotID}})
	})
	if err != nil {
		return "", "", err
	}
	if len(list.GetSnapshots()) == 0 {
		return "", fmt.Sprintf("VolumeSnapshot %s is not on volume pool %s", name, p.PoolName), nil
	}
	return snap.Status.SnapshotID, "", nil
}

// sizeBytes is the Volume's requested storage in bytes.
func sizeBytes(v *storagev1alpha1.Volume) uint64 {
	q, ok := v.Spec.Resources[corev1.ResourceStorage]
	if !ok || q.Sign() <= 0 {
		return 0
	}
	return uint64(q.Value())
}

// capability is a class capability as a non-negative integer, 0 when unset.
func capability(class *storagev1alpha1.VolumeClass, name corev1.ResourceName) uint64 {
	q, ok := class.Capabilities[name]
	if !ok || q.Sign() <= 0 {
		return 0
	}
	return uint64(q.Value())
}

// expand grows the runtime volume to the Volume's requested size when the class allows it
// (resizePolicy ExpandOnly). It returns the volume after the change and the Resized condition
// to write (nil when no resize was asked for). A refusal (a Static class, or the provider's
// FAILED_PRECONDITION) is a condition and a Warning event, not an error.
func (p *Poollet) expand(ctx context.Context, v *storagev1alpha1.Volume, class *storagev1alpha1.VolumeClass, rv *runtimev1alpha1.Volume) (*runtimev1alpha1.Volume, *metav1.Condition, error) {
	want, have := sizeBytes(v), rv.GetStatus().GetSizeBytes()
	if rv.GetStatus().GetState() != runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE {
		return rv, nil, nil
	}
	if want <= have {
		// Grown by an earlier pass whose status write was lost (a conflict, a crash): report it
		// now. Only a spec change (generation > 1) can have asked for a size the volume did not
		// have at create.
		current := meta.FindStatusCondition(v.Status.Conditions, ConditionResized)
		if want == have && v.Generation > 1 && (current == nil || current.ObservedGeneration < v.Generation) {
			cond := condition(ConditionResized, true, ReasonExpanded, fmt.Sprintf("grown to %d bytes", have), v.Generation)
			return rv, &cond, nil
		}
		return rv, nil, nil
	}
	if class.ResizePolicy != storagev1alpha1.ResizePolicyExpandOnly {
		cond := condition(ConditionResized, false, ReasonResizeNotAllowed,
			fmt.Sprintf("volume class %s does not allow resizing (resizePolicy %s): %d bytes requested, the volume has %d", class.Name, resizePolicy(class), want, have), v.Generation)
		p.warnOnChange(v, cond, "ExpandVolume")
		return rv, &cond, nil
	}
	id := rv.GetMetadata().GetId()
	resp, err := call(ctx, p, func(ctx context.Context) (*runtimev1alpha1.ExpandVolumeResponse, error) {
		return p.Runtime.ExpandVolume(ctx, &runtimev1alpha1.ExpandVolumeRequest{VolumeId: id, SizeBytes: want})
	})
	if status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.ResourceExhausted {
		cond := condition(ConditionResized, false, ReasonExpandFailed, status.Convert(err).Message(), v.Generation)
		p.warnOnChange(v, cond, "ExpandVolume")
		return rv, &cond, nil
	}
	if err != nil {
		return rv, nil, fmt.Errorf("expanding runtime volume %s: %w", id, err)
	}
	rv = resp.GetVolume()
	p.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "Expanded", "ExpandVolume", "runtime volume %s grown from %d to %d bytes", id, have, rv.GetStatus().GetSizeBytes())
	cond := condition(ConditionResized, true, ReasonExpanded, fmt.Sprintf("grown to %d bytes", rv.GetStatus().GetSizeBytes()), v.Generation)
	return rv, &cond, nil
}

func resizePolicy(class *storagev1alpha1.VolumeClass) storagev1alpha1.ResizePolicy {
	if class.ResizePolicy == "" {
		return storagev1alpha1.ResizePolicyStatic
	}
	return class.ResizePolicy
}
