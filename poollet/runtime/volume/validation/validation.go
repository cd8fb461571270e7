// Package validation checks volume runtime requests the way every provider must: each function
// returns nil or an INVALID_ARGUMENT status naming the first bad field. Providers (the fake,
// ceph-provider, the broker) call it before they act, so they reject the same requests.
package validation

import (
	"fmt"

	"github.com/ferrite-dev/ferrite/poollet/runtime/objectmeta"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// MaxIDLength is the longest volume or snapshot ID.
const MaxIDLength = objectmeta.MaxIDLength

var invalid = objectmeta.Invalid

// ID checks a volume or snapshot ID (objectmeta.ID): 1 to MaxIDLength characters of
// [A-Za-z0-9._-].
func ID(field, id string) error { return objectmeta.ID(field, id) }

// Volume checks the volume of a CreateVolumeRequest: its ID, labels and spec.
func Volume(v *runtimev1alpha1.Volume) error {
	if v == nil {
		return invalid("volume", "required")
	}
	if err := ID("volume.metadata.id", v.GetMetadata().GetId()); err != nil {
		return err
	}
	if err := objectmeta.Labels("volume.metadata.labels", v.GetMetadata().GetLabels()); err != nil {
		return err
	}
	return Spec("volume.spec", v.GetSpec())
}

// Spec checks a volume spec: a class, a size above zero, a well-formed source, QoS and
// encryption.
func Spec(field string, spec *runtimev1alpha1.VolumeSpec) error {
	if spec == nil {
		return invalid(field, "required")
	}
	if spec.GetClass() == "" {
		return invalid(field+".class", "required")
	}
	if spec.GetSizeBytes() == 0 {
		return invalid(field+".size_bytes", "must be greater than 0")
	}
	switch src := spec.GetSource().(type) {
	case *runtimev1alpha1.VolumeSpec_Image:
		if src.Image.GetImage() == "" {
			return invalid(field+".image.image", "required")
		}
	case *runtimev1alpha1.VolumeSpec_Snapshot:
		if err := ID(field+".snapshot.snapshot_id", src.Snapshot.GetSnapshotId()); err != nil {
			return err
		}
	}
	if enc := spec.GetEncryption(); enc != nil {
		if _, ok := runtimev1alpha1.EncryptionFormat_name[int32(enc.GetFormat())]; !ok {
			return invalid(field+".encryption.format", "unknown value %d", enc.GetFormat())
		}
	}
	return nil
}

// Snapshot checks the snapshot of a CreateSnapshotRequest: its ID, labels and volume.
func Snapshot(s *runtimev1alpha1.Snapshot) error {
	if s == nil {
		return invalid("snapshot", "required")
	}
	if err := ID("snapshot.metadata.id", s.GetMetadata().GetId()); err != nil {
		return err
	}
	if err := objectmeta.Labels("snapshot.metadata.labels", s.GetMetadata().GetLabels()); err != nil {
		return err
	}
	if s.GetSpec() == nil {
		return invalid("snapshot.spec", "required")
	}
	return ID("snapshot.spec.volume_id", s.GetSpec().GetVolumeId())
}

// Expand checks an ExpandVolumeRequest.
func Expand(req *runtimev1alpha1.ExpandVolumeRequest) error {
	if err := ID("volume_id", req.GetVolumeId()); err != nil {
		return err
	}
	if req.GetSizeBytes() == 0 {
		return invalid("size_bytes", "must be greater than 0")
	}
	return nil
}

// Filter checks the filter of a list request; an empty filter is valid.
func Filter(field string, f *runtimev1alpha1.ObjectFilter) error {
	if f.GetId() != "" {
		if err := ID(field+".id", f.GetId()); err != nil {
			return err
		}
	}
	return objectmeta.Labels(field+".label_selector", f.GetLabelSelector())
}

// Status checks a StatusRequest: class names are set and appear once.
func Status(req *runtimev1alpha1.StatusRequest) error {
	seen := map[string]bool{}
	for i, class := range req.GetClasses() {
		field := fmt.Sprintf("classes[%d]", i)
		if class == "" {
			return invalid(field, "required")
		}
		if seen[class] {
			return invalid(field, "%q is named twice", class)
		}
		seen[class] = true
	}
	return nil
}
