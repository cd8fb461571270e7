package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/storage"
)

func validVolume() *storage.Volume {
	return &storage.Volume{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-data"},
		Spec: storage.VolumeSpec{
			VolumeClassRef:     corev1.LocalObjectReference{Name: "fast"},
			VolumePoolSelector: map[string]string{"topology.ferrite.dev/zone": "a"},
			Resources:          corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			Image:              "ghcr.io/ferrite-dev/os-images/debian:12",
			ClaimRef:           &storage.ClaimReference{Name: "web-0", UID: "5f0c2b1e"},
			Tolerations:        []corev1.Toleration{{Key: "ferrite.dev/ssd", Operator: corev1.TolerationOpExists}},
		},
	}
}

func TestValidateVolume(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*storage.Volume)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*storage.Volume) {}},
		{name: "from snapshot", mutate: func(v *storage.Volume) {
			v.Spec.Image = ""
			v.Spec.SnapshotRef = &corev1.LocalObjectReference{Name: "web-data-snap"}
		}},
		{name: "missing class", mutate: func(v *storage.Volume) { v.Spec.VolumeClassRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.volumeClassRef.name")}},
		{name: "bad pool selector", mutate: func(v *storage.Volume) { v.Spec.VolumePoolSelector = map[string]string{"bad key!": "a"} },
			want: []vt.FieldError{vt.Invalid("spec.volumePoolSelector")}},
		{name: "missing storage", mutate: func(v *storage.Volume) { v.Spec.Resources = nil },
			want: []vt.FieldError{vt.Required("spec.resources[storage]")}},
		{name: "zero storage", mutate: func(v *storage.Volume) { v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("0") },
			want: []vt.FieldError{vt.Invalid("spec.resources[storage]")}},
		{name: "negative storage", mutate: func(v *storage.Volume) { v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("-10Gi") },
			want: []vt.FieldError{vt.Invalid("spec.resources[storage]")}},
		{name: "image and snapshot", mutate: func(v *storage.Volume) { v.Spec.SnapshotRef = &corev1.LocalObjectReference{Name: "snap"} },
			want: []vt.FieldError{vt.Invalid("spec.snapshotRef")}},
		{name: "image not a reference", mutate: func(v *storage.Volume) { v.Spec.Image = "Not A Valid/Image:Ref!" },
			want: []vt.FieldError{vt.Invalid("spec.image")}},
		{name: "empty snapshot ref", mutate: func(v *storage.Volume) { v.Spec.Image = ""; v.Spec.SnapshotRef = &corev1.LocalObjectReference{} },
			want: []vt.FieldError{vt.Required("spec.snapshotRef.name")}},
		{name: "bad toleration", mutate: func(v *storage.Volume) { v.Spec.Tolerations[0].Value = "x" },
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].value")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			volume := validVolume()
			tt.mutate(volume)
			vt.Expect(t, ValidateVolume(volume), tt.want...)
		})
	}
}

func TestValidateVolumeUpdate(t *testing.T) {
	bound := func(v *storage.Volume) { v.Spec.VolumePoolRef = &storage.VolumePoolReference{Name: "ceph-a"} }
	tests := []struct {
		name      string
		old, edit func(*storage.Volume)
		want      []vt.FieldError
	}{
		{name: "no change", old: bound, edit: func(*storage.Volume) {}},
		{name: "grow", old: bound, edit: func(v *storage.Volume) { v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("20Gi") }},
		// 10Gi and 10240Mi are equal: not a shrink.
		{name: "same size other spelling", old: bound, edit: func(v *storage.Volume) { v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("10240Mi") }},
		{name: "scheduler binds", old: func(*storage.Volume) {}, edit: bound},
		{name: "claim may change", old: bound, edit: func(v *storage.Volume) { v.Spec.ClaimRef = nil }},
		{name: "shrink is forbidden", old: bound, edit: func(v *storage.Volume) { v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("9Gi") },
			want: []vt.FieldError{vt.Forbidden("spec.resources[storage]")}},
		{name: "class is immutable", old: bound, edit: func(v *storage.Volume) { v.Spec.VolumeClassRef.Name = "slow" },
			want: []vt.FieldError{vt.Invalid("spec.volumeClassRef")}},
		// A volume stored before images were checked can still change (and lose finalizers).
		{name: "unchanged bad image kept", old: func(v *storage.Volume) { bound(v); v.Spec.Image = "Bad Image" },
			edit: func(v *storage.Volume) { v.Spec.Resources[corev1.ResourceStorage] = resource.MustParse("20Gi") }},
		{name: "image is immutable", old: bound, edit: func(v *storage.Volume) { v.Spec.Image = "ghcr.io/ferrite-dev/os-images/debian:13" },
			want: []vt.FieldError{vt.Invalid("spec.image")}},
		{name: "snapshot is immutable", old: func(v *storage.Volume) {
			v.Spec.Image = ""
			v.Spec.SnapshotRef = &corev1.LocalObjectReference{Name: "snap-1"}
		}, edit: func(v *storage.Volume) { v.Spec.SnapshotRef.Name = "snap-2" },
			want: []vt.FieldError{vt.Invalid("spec.snapshotRef")}},
		// The pool reference and the claim are guarded by registry/kind (subresources only).
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldVolume := validVolume()
			tt.old(oldVolume)
			newVolume := oldVolume.DeepCopy()
			tt.edit(newVolume)
			vt.Expect(t, ValidateVolumeUpdate(newVolume, oldVolume), tt.want...)
		})
	}
}

func TestValidateVolumeStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status storage.VolumeStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "available", status: storage.VolumeStatus{
			State:    storage.VolumeStateAvailable,
			VolumeID: "rbd/pool/web-data",
			Access: &storage.VolumeAccess{Driver: "ceph", Handle: "pool/web-data",
				Attributes: map[string]string{"monitors": "192.0.2.1"}, SecretRef: &corev1.LocalObjectReference{Name: "ceph-key"}},
		}},
		{name: "unknown state", status: storage.VolumeStatus{State: "Attached"},
			want: []vt.FieldError{vt.NotSupported("status.state")}},
		{name: "bad condition", status: storage.VolumeStatus{Conditions: []metav1.Condition{{Type: "Ready", Reason: "Ok", LastTransitionTime: metav1.Unix(1, 0)}}},
			want: []vt.FieldError{vt.Required("status.conditions[0].status")}},
		{name: "access without driver and handle", status: storage.VolumeStatus{Access: &storage.VolumeAccess{}},
			want: []vt.FieldError{vt.Required("status.access.driver"), vt.Required("status.access.handle")}},
		{name: "access empty secret ref", status: storage.VolumeStatus{Access: &storage.VolumeAccess{Driver: "ceph", Handle: "h", SecretRef: &corev1.LocalObjectReference{}}},
			want: []vt.FieldError{vt.Required("status.access.secretRef.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			volume := validVolume()
			volume.Status = tt.status
			vt.Expect(t, ValidateVolumeStatusUpdate(volume, validVolume()), tt.want...)
		})
	}
}
