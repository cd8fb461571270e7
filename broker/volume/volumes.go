package volume

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// CreateVolume creates the lower Volume v-<id>. A volume that exists (in the cache, or in the
// lower cluster when the create meets AlreadyExists) is returned with created=false.
func (b *Broker) CreateVolume(ctx context.Context, req *runtimev1alpha1.CreateVolumeRequest) (*runtimev1alpha1.CreateVolumeResponse, error) {
	if err := validation.Volume(req.GetVolume()); err != nil {
		return nil, err
	}
	id := req.GetVolume().GetMetadata().GetId()
	if rv, _ := b.volume(id); rv != nil {
		return &runtimev1alpha1.CreateVolumeResponse{Volume: rv}, nil
	}
	spec := req.GetVolume().GetSpec()
	if err := b.checkClass(spec); err != nil {
		return nil, err
	}
	if s := spec.GetSnapshot(); s != nil {
		if rs, _ := b.snapshot(s.GetSnapshotId()); rs == nil {
			return nil, status.Errorf(codes.NotFound, "volume.spec.snapshot.snapshot_id: snapshot %q does not exist", s.GetSnapshotId())
		}
	}
	lv, err := b.lowerVolume(req.GetVolume())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "volume.metadata.labels: %v", err)
	}
	created := true
	out, err := b.client.StorageV1alpha1().Volumes(b.opts.Namespace).Create(ctx, lv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// A retried create (after a timeout or a restart): the Volume is this ID's if it says so.
		created = false
		out, err = b.client.StorageV1alpha1().Volumes(b.opts.Namespace).Get(ctx, lv.Name, metav1.GetOptions{})
		if err == nil && out.Labels[LabelID] != id {
			return nil, status.Errorf(codes.AlreadyExists, "lower Volume %s/%s exists without label %s=%s", b.opts.Namespace, lv.Name, LabelID, id)
		}
	}
	if err != nil {
		return nil, lowerError("creating lower Volume "+lv.Name, err)
	}
	b.observeVolume(out, false)
	rv, _ := b.volume(id)
	if rv == nil {
		// Deleted again in between.
		return nil, status.Errorf(codes.Aborted, "lower Volume %s vanished during the create; retry", lv.Name)
	}
	return &runtimev1alpha1.CreateVolumeResponse{Volume: rv, Created: created}, nil
}

// checkClass refuses a class the broker does not expose or the lower cluster lacks, and an
// encryption the lower class does not give.
func (b *Broker) checkClass(spec *runtimev1alpha1.VolumeSpec) error {
	name := spec.GetClass()
	if !b.exposes(name) {
		return status.Errorf(codes.FailedPrecondition, "volume.spec.class: class %q is not served by this broker", name)
	}
	class, err := b.classes.Get(name)
	if apierrors.IsNotFound(err) {
		return status.Errorf(codes.FailedPrecondition, "volume.spec.class: the lower cluster has no VolumeClass %q", name)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "reading lower VolumeClass %q: %v", name, err)
	}
	if spec.GetEncryption().GetFormat() == runtimev1alpha1.EncryptionFormat_ENCRYPTION_FORMAT_LUKS2 &&
		(class.Encryption == nil || class.Encryption.Format != storagev1alpha1.EncryptionFormatLUKS2) {
		return status.Errorf(codes.FailedPrecondition, "volume.spec.encryption: the lower VolumeClass %q does not encrypt with LUKS2", name)
	}
	return nil
}

// ListVolumes lists the mirrored volumes, with the revision they are consistent with.
func (b *Broker) ListVolumes(_ context.Context, req *runtimev1alpha1.ListVolumesRequest) (*runtimev1alpha1.ListVolumesResponse, error) {
	if err := validation.Filter("filter", req.GetFilter()); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &runtimev1alpha1.ListVolumesResponse{Revision: b.history.Revision()}
	for id, e := range b.mirror.volumes {
		if matches(req.GetFilter(), id, e.runtime.GetMetadata().GetLabels()) {
			resp.Volumes = append(resp.Volumes, proto.Clone(e.runtime).(*runtimev1alpha1.Volume))
		}
	}
	return resp, nil
}

// matches reports whether an object with id and labels passes filter.
func matches(filter *runtimev1alpha1.ObjectFilter, id string, labels map[string]string) bool {
	if filter.GetId() != "" && filter.GetId() != id {
		return false
	}
	for k, v := range filter.GetLabelSelector() {
		if have, ok := labels[k]; !ok || have != v {
			return false
		}
	}
	return true
}

// ExpandVolume grows the lower Volume's storage and waits (Options.ExpandWait) for the lower
// cluster to act on it. The lower class must allow growth (resizePolicy ExpandOnly).
func (b *Broker) ExpandVolume(ctx context.Context, req *runtimev1alpha1.ExpandVolumeRequest) (*runtimev1alpha1.ExpandVolumeResponse, error) {
	if err := validation.Expand(req); err != nil {
		return nil, err
	}
	id, want := req.GetVolumeId(), req.GetSizeBytes()
	rv, lv := b.volume(id)
	if rv == nil {
		return nil, status.Errorf(codes.NotFound, "volume_id: volume %q does not exist", id)
	}
	if lv.DeletionTimestamp != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q is being deleted", id)
	}
	requested := storageBytes(lv)
	switch {
	case want < rv.GetStatus().GetSizeBytes() || want < requested:
		return nil, status.Errorf(codes.FailedPrecondition, "size_bytes: %d is smaller than the volume's %d bytes; volumes never shrink", want, max(requested, rv.GetStatus().GetSizeBytes()))
	case want > requested:
		class, err := b.classes.Get(lv.Spec.VolumeClassRef.Name)
		if err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "reading lower VolumeClass %q: %v", lv.Spec.VolumeClassRef.Name, err)
		}
		if class.ResizePolicy != storagev1alpha1.ResizePolicyExpandOnly {
			return nil, status.Errorf(codes.FailedPrecondition, "the lower VolumeClass %q does not allow resizing (resizePolicy %q)", class.Name, class.ResizePolicy)
		}
		if err := b.setStorage(ctx, lv, want); err != nil {
			return nil, err
		}
	}
	// Wait for the lower poollet to act on the size (or refuse it).
	wait, cancel := context.WithTimeout(ctx, b.opts.ExpandWait)
	defer cancel()
	for {
		rv, lv = b.volume(id)
		if rv == nil {
			return nil, status.Errorf(codes.NotFound, "volume_id: volume %q does not exist", id)
		}
		if refused := resizeRefused(lv); refused != "" && storageBytes(lv) == want {
			return nil, status.Errorf(codes.FailedPrecondition, "the lower cluster refused the resize: %s", refused)
		}
		if rv.GetStatus().GetSizeBytes() >= want || wait.Err() != nil {
			// Not there yet: the new size arrives through Watch.
			return &runtimev1alpha1.ExpandVolumeResponse{Volume: rv}, nil
		}
		select {
		case <-wait.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// setStorage writes the lower Volume's new storage request, rereading it after a conflict.
func (b *Broker) setStorage(ctx context.Context, lv *storagev1alpha1.Volume, bytes uint64) error {
	volumes := b.client.StorageV1alpha1().Volumes(b.opts.Namespace)
	lv = lv.DeepCopy()
	for attempt := 0; ; attempt++ {
		lv.Spec.Resources = lv.Spec.Resources.DeepCopy()
		if lv.Spec.Resources == nil {
			lv.Spec.Resources = corev1.ResourceList{}
		}
		lv.Spec.Resources[corev1.ResourceStorage] = *resource.NewQuantity(int64(bytes), resource.BinarySI)
		out, err := volumes.Update(ctx, lv, metav1.UpdateOptions{})
		if err == nil {
			b.observeVolume(out, false)
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 4 {
			return lowerError("growing lower Volume "+lv.Name, err)
		}
		if lv, err = volumes.Get(ctx, lv.Name, metav1.GetOptions{}); err != nil {
			return lowerError("reading lower Volume "+lv.Name, err)
		}
	}
}

// DeleteVolume deletes the lower Volume; it is TERMINATING until the lower cluster has released
// it, then Watch reports it DELETED.
func (b *Broker) DeleteVolume(ctx context.Context, req *runtimev1alpha1.DeleteVolumeRequest) (*runtimev1alpha1.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := validation.ID("volume_id", id); err != nil {
		return nil, err
	}
	rv, lv := b.volume(id)
	name := volumeName(id)
	var precondition *metav1.Preconditions
	if lv != nil {
		precondition = &metav1.Preconditions{UID: &lv.UID}
	}
	err := b.client.StorageV1alpha1().Volumes(b.opts.Namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: precondition})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Gone already (a conflict: the cached one is gone and another took the name; the
		// informer reports both).
		if rv == nil {
			return &runtimev1alpha1.DeleteVolumeResponse{}, nil
		}
	case err != nil:
		return nil, lowerError("deleting lower Volume "+name, err)
	}
	if rv == nil {
		// Not cached yet: deleted below; the informer reports it.
		return &runtimev1alpha1.DeleteVolumeResponse{}, nil
	}
	rv.Status.State = runtimev1alpha1.VolumeState_VOLUME_STATE_TERMINATING
	if rv.Metadata.DeleteTime == nil {
		rv.Metadata.DeleteTime = timestamppb.Now()
	}
	return &runtimev1alpha1.DeleteVolumeResponse{Volume: rv}, nil
}

// lowerError turns an error of the lower cluster into a gRPC status that says what failed.
func lowerError(what string, err error) error {
	code := codes.Unavailable
	switch {
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		code = codes.InvalidArgument
	case apierrors.IsForbidden(err):
		// Admission (quota, a refused growth) or the broker's identity lacks a right.
		code = codes.FailedPrecondition
	case apierrors.IsNotFound(err):
		code = codes.NotFound
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		code = codes.Aborted
	}
	return status.Error(code, fmt.Sprintf("%s: %v", what, err))
}
