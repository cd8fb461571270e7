package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Keys and attributes of the lower volumepoollet's status.access (docs/volumepoollet.md).
const (
	// attributeEncryptionSecret names the lower passphrase Secret, in the key namespace. It is
	// not passed up: the upper volumepoollet names its own.
	attributeEncryptionSecret = "encryptionSecret"
	// attributeEncryption is "luks2" for an encrypted volume.
	attributeEncryption = "encryption"
	// secretKeyPassphrase is the passphrase Secret's key, and the runtime secret's name.
	secretKeyPassphrase = "passphrase"
)

// Lower conditions the broker reads.
const (
	conditionReady     = "Ready"
	conditionResized   = "Resized"
	conditionScheduled = "Scheduled"
)

// volumeName is the lower Volume of runtime volume id; snapshotName the lower VolumeSnapshot of
// runtime snapshot id.
func volumeName(id string) string   { return "v-" + id }
func snapshotName(id string) string { return "s-" + id }

// lowerVolume is the lower Volume a CreateVolume request asks for.
func (b *Broker) lowerVolume(v *runtimev1alpha1.Volume) (*storagev1alpha1.Volume, error) {
	id, spec := v.GetMetadata().GetId(), v.GetSpec()
	annotations, err := objectAnnotations(v.GetMetadata().GetLabels())
	if err != nil {
		return nil, err
	}
	if spec.GetTenant() != "" {
		annotations[AnnotationTenant] = spec.GetTenant()
	}
	lv := &storagev1alpha1.Volume{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.opts.Namespace, Name: volumeName(id), Labels: map[string]string{LabelID: id}, Annotations: annotations},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef:     corev1.LocalObjectReference{Name: spec.GetClass()},
			VolumePoolSelector: b.opts.VolumePoolSelector,
			Resources:          corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(int64(spec.GetSizeBytes()), resource.BinarySI)},
			Image:              spec.GetImage().GetImage(),
		},
	}
	if s := spec.GetSnapshot(); s != nil {
		lv.Spec.SnapshotRef = &corev1.LocalObjectReference{Name: snapshotName(s.GetSnapshotId())}
	}
	return lv, nil
}

// objectAnnotations keeps runtime labels in an annotation: they are the upper cluster's, not
// labels of the lower object.
func objectAnnotations(labels map[string]string) (map[string]string, error) {
	annotations := map[string]string{}
	if len(labels) > 0 {
		data, err := json.Marshal(labels)
		if err != nil {
			return nil, err
		}
		annotations[AnnotationLabels] = string(data)
	}
	return annotations, nil
}

// runtimeMetadata is the runtime metadata of a lower object.
func runtimeMetadata(obj metav1.Object) *runtimev1alpha1.ObjectMetadata {
	m := &runtimev1alpha1.ObjectMetadata{Id: obj.GetLabels()[LabelID], CreateTime: timestamppb.New(obj.GetCreationTimestamp().Time)}
	if raw := obj.GetAnnotations()[AnnotationLabels]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &m.Labels)
	}
	if t := obj.GetDeletionTimestamp(); t != nil {
		m.DeleteTime = timestamppb.New(t.Time)
	}
	return m
}

// runtimeVolume is the runtime view of a lower Volume: its spec, its state, and when it is
// Available its access with the credentials read from the lower Secrets.
func (b *Broker) runtimeVolume(ctx context.Context, lv *storagev1alpha1.Volume) *runtimev1alpha1.Volume {
	spec := &runtimev1alpha1.VolumeSpec{Class: lv.Spec.VolumeClassRef.Name, SizeBytes: storageBytes(lv), Tenant: lv.Annotations[AnnotationTenant]}
	switch {
	case lv.Spec.Image != "":
		spec.Source = &runtimev1alpha1.VolumeSpec_Image{Image: &runtimev1alpha1.ImageSource{Image: lv.Spec.Image}}
	case lv.Spec.SnapshotRef != nil:
		spec.Source = &runtimev1alpha1.VolumeSpec_Snapshot{Snapshot: &runtimev1alpha1.SnapshotSource{SnapshotId: strings.TrimPrefix(lv.Spec.SnapshotRef.Name, "s-")}}
	}
	if class, err := b.classes.Get(spec.Class); err == nil {
		spec.Qos = &runtimev1alpha1.QoS{IopsLimit: capability(class, "iops"), BytesPerSecondLimit: capability(class, "tps")}
		if class.Encryption != nil && class.Encryption.Format == storagev1alpha1.EncryptionFormatLUKS2 {
			spec.Encryption = &runtimev1alpha1.Encryption{Format: runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2}
		}
	}
	status := &runtimev1alpha1.VolumeStatus{SizeBytes: spec.SizeBytes}
	if lv.Status.Access != nil && lv.Status.Access.Attributes[attributeEncryption] == "luks2" {
		status.Encryption = runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2
	}
	switch {
	case lv.DeletionTimestamp != nil:
		status.State = runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING
	case lv.Status.State == storagev1alpha1.VolumeStateError:
		status.State = runtimev1alpha1.VolumeState_VOLUME_STATE_ERROR
		status.Reason, status.Message = pendingReason(lv)
	case lv.Status.State == storagev1alpha1.VolumeStateAvailable && lv.Status.Access != nil:
		access, err := b.access(ctx, lv)
		if err != nil {
			status.Reason, status.Message = "CredentialsUnavailable", err.Error()
			break
		}
		status.State, status.Access = runtimev1alpha1.VolumeState_VOLUME_STATE_AVAILABLE, access
	default:
		status.Reason, status.Message = pendingReason(lv)
	}
	return &runtimev1alpha1.Volume{Metadata: runtimeMetadata(lv), Spec: spec, Status: status}
}

// pendingReason says why a lower Volume is not Available: its Ready condition, or that it
// waits for a pool.
func pendingReason(lv *storagev1alpha1.Volume) (string, string) {
	if c := meta.FindStatusCondition(lv.Status.Conditions, conditionReady); c != nil && c.Status != metav1.ConditionTrue {
		return c.Reason, c.Message
	}
	if lv.Spec.VolumePoolRef == nil {
		message := "waiting for the lower cluster to schedule the volume"
		if c := meta.FindStatusCondition(lv.Status.Conditions, conditionScheduled); c != nil && c.Status == metav1.ConditionFalse {
			message = c.Message
		}
		return "Scheduling", message
	}
	return "Creating", fmt.Sprintf("waiting for volume pool %s of the lower cluster", lv.Spec.VolumePoolRef.Name)
}

// access is the runtime access of an Available lower Volume: driver, handle and attributes
// (but the lower passphrase Secret's name), and as secrets the data of the access Secret and the
// passphrase.
func (b *Broker) access(ctx context.Context, lv *storagev1alpha1.Volume) (*runtimev1alpha1.VolumeAccess, error) {
	a := lv.Status.Access
	out := &runtimev1alpha1.VolumeAccess{Driver: a.Driver, Handle: a.Handle, Attributes: map[string]string{}}
	for k, v := range a.Attributes {
		if k != attributeEncryptionSecret {
			out.Attributes[k] = v
		}
	}
	secrets, err := b.credentials.get(lv, func() (map[string][]byte, error) { return b.readCredentials(ctx, lv) })
	if err != nil {
		return nil, err
	}
	out.Secrets = secrets
	return out, nil
}

// readCredentials reads the credentials of an Available lower Volume from its access Secret
// and its passphrase Secret.
func (b *Broker) readCredentials(ctx context.Context, lv *storagev1alpha1.Volume) (map[string][]byte, error) {
	a := lv.Status.Access
	out := map[string][]byte{}
	if a.SecretRef != nil {
		secret := &corev1.Secret{}
		if err := b.secrets.Get(ctx, client.ObjectKey{Namespace: lv.Namespace, Name: a.SecretRef.Name}, secret); err != nil {
			return nil, fmt.Errorf("reading access secret %s/%s: %w", lv.Namespace, a.SecretRef.Name, err)
		}
		for k, v := range secret.Data {
			out[k] = v
		}
	}
	if name := a.Attributes[attributeEncryptionSecret]; name != "" {
		secret := &corev1.Secret{}
		if err := b.secrets.Get(ctx, client.ObjectKey{Namespace: b.opts.KeyNamespace, Name: name}, secret); err != nil {
			return nil, fmt.Errorf("reading passphrase secret %s/%s: %w", b.opts.KeyNamespace, name, err)
		}
		passphrase, ok := secret.Data[secretKeyPassphrase]
		if !ok {
			return nil, fmt.Errorf("passphrase secret %s/%s: no key %q", b.opts.KeyNamespace, name, secretKeyPassphrase)
		}
		out[secretKeyPassphrase] = passphrase
	}
	return out, nil
}

// sizeConfirmed reports whether the lower cluster has acted on the Volume's current size: its
// poollet observed the current generation and did not refuse a resize to it.
func sizeConfirmed(lv *storagev1alpha1.Volume) bool {
	if lv.Status.ObservedGeneration < lv.Generation {
		return false
	}
	c := meta.FindStatusCondition(lv.Status.Conditions, conditionResized)
	return c == nil || c.Status == metav1.ConditionTrue || c.ObservedGeneration < lv.Generation
}

// resizeRefused returns the lower poollet's refusal of the Volume's current size, or "".
func resizeRefused(lv *storagev1alpha1.Volume) string {
	c := meta.FindStatusCondition(lv.Status.Conditions, conditionResized)
	if lv.Status.ObservedGeneration >= lv.Generation && c != nil && c.Status == metav1.ConditionFalse && c.ObservedGeneration >= lv.Generation {
		return c.Reason + ": " + c.Message
	}
	return ""
}

// keepConfirmedSize keeps the size of the previous runtime view while the lower cluster has
// not acted on a new size: the runtime's size is the size the guest sees.
func keepConfirmedSize(rv, previous *runtimev1alpha1.Volume, lv *storagev1alpha1.Volume) {
	if !sizeConfirmed(lv) && previous != nil {
		rv.Status.SizeBytes = previous.GetStatus().GetSizeBytes()
	}
}

// runtimeSnapshot is the runtime view of a lower VolumeSnapshot.
func runtimeSnapshot(ls *storagev1alpha1.VolumeSnapshot) *runtimev1alpha1.Snapshot {
	status := &runtimev1alpha1.SnapshotStatus{}
	switch ls.Status.State {
	case storagev1alpha1.VolumeSnapshotStateReady:
		status.State = runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_READY
	case storagev1alpha1.VolumeSnapshotStateFailed:
		status.State, status.Reason, status.Message = runtimev1alpha1.SnapshotState_SNAPSHOT_STATE_ERROR, "Failed", "the lower VolumeSnapshot failed"
	default:
		status.Reason, status.Message = "Pending", "waiting for the lower cluster to take the snapshot"
	}
	if q := ls.Status.RestoreSize; q != nil && q.Sign() > 0 {
		status.SizeBytes = uint64(q.Value())
	}
	return &runtimev1alpha1.Snapshot{
		Metadata: runtimeMetadata(ls),
		Spec:     &runtimev1alpha1.SnapshotSpec{VolumeId: strings.TrimPrefix(ls.Spec.VolumeRef.Name, "v-")},
		Status:   status,
	}
}

// storageBytes is a lower Volume's requested storage in bytes.
func storageBytes(lv *storagev1alpha1.Volume) uint64 {
	q, ok := lv.Spec.Resources[corev1.ResourceStorage]
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
