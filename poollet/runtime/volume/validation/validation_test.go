package validation_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

func volume(mutate func(v *runtimev1alpha1.Volume)) *runtimev1alpha1.Volume {
	v := &runtimev1alpha1.Volume{
		Metadata: &runtimev1alpha1.ObjectMetadata{Id: "0d6c5a9e-1", Labels: map[string]string{"a": "b"}},
		Spec:     &runtimev1alpha1.VolumeSpec{Class: "fast", SizeBytes: 1 << 30},
	}
	if mutate != nil {
		mutate(v)
	}
	return v
}

// expectField asserts err is INVALID_ARGUMENT and names field.
func expectField(t *testing.T, err error, field string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), field+":") {
		t.Fatalf("got %v, want INVALID_ARGUMENT naming %s", err, field)
	}
}

func TestVolume(t *testing.T) {
	if err := validation.Volume(volume(nil)); err != nil {
		t.Fatalf("valid volume: %v", err)
	}
	for field, mutate := range map[string]func(v *runtimev1alpha1.Volume){
		"volume.metadata.id":     func(v *runtimev1alpha1.Volume) { v.Metadata.Id = "a/b" },
		"volume.metadata.labels": func(v *runtimev1alpha1.Volume) { v.Metadata.Labels[""] = "x" },
		"volume.spec":            func(v *runtimev1alpha1.Volume) { v.Spec = nil },
		"volume.spec.class":      func(v *runtimev1alpha1.Volume) { v.Spec.Class = "" },
		"volume.spec.size_bytes": func(v *runtimev1alpha1.Volume) { v.Spec.SizeBytes = 0 },
		"volume.spec.image.image": func(v *runtimev1alpha1.Volume) {
			v.Spec.Source = &runtimev1alpha1.VolumeSpec_Image{Image: &runtimev1alpha1.ImageSource{}}
		},
		"volume.spec.snapshot.snapshot_id": func(v *runtimev1alpha1.Volume) {
			v.Spec.Source = &runtimev1alpha1.VolumeSpec_Snapshot{Snapshot: &runtimev1alpha1.SnapshotSource{SnapshotId: strings.Repeat("x", 129)}}
		},
		"volume.spec.encryption.format": func(v *runtimev1alpha1.Volume) {
			v.Spec.Encryption = &runtimev1alpha1.Encryption{Format: 7}
		},
	} {
		expectField(t, validation.Volume(volume(mutate)), field)
	}
	expectField(t, validation.Volume(nil), "volume")
}

func TestSnapshotExpandFilterStatus(t *testing.T) {
	ok := &runtimev1alpha1.Snapshot{Metadata: &runtimev1alpha1.ObjectMetadata{Id: "s"}, Spec: &runtimev1alpha1.SnapshotSpec{VolumeId: "v"}}
	if err := validation.Snapshot(ok); err != nil {
		t.Fatalf("valid snapshot: %v", err)
	}
	expectField(t, validation.Snapshot(&runtimev1alpha1.Snapshot{Metadata: &runtimev1alpha1.ObjectMetadata{Id: "s"}}), "snapshot.spec")
	expectField(t, validation.Snapshot(&runtimev1alpha1.Snapshot{Metadata: &runtimev1alpha1.ObjectMetadata{Id: "s"}, Spec: &runtimev1alpha1.SnapshotSpec{}}), "snapshot.spec.volume_id")
	expectField(t, validation.Expand(&runtimev1alpha1.ExpandVolumeRequest{VolumeId: "v"}), "size_bytes")
	expectField(t, validation.Expand(&runtimev1alpha1.ExpandVolumeRequest{SizeBytes: 1}), "volume_id")
	if err := validation.Filter("filter", nil); err != nil {
		t.Fatalf("empty filter: %v", err)
	}
	expectField(t, validation.Filter("filter", &runtimev1alpha1.ObjectFilter{Id: "a b"}), "filter.id")
	expectField(t, validation.Status(&runtimev1alpha1.StatusRequest{Classes: []string{"a", "a"}}), "classes[1]")
	expectField(t, validation.Status(&runtimev1alpha1.StatusRequest{Classes: []string{""}}), "classes[0]")
}
