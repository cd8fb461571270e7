package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/storage"
)

func validVolumeClass() *storage.VolumeClass {
	return &storage.VolumeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "fast"},
		Capabilities: corev1.ResourceList{
			ResourceIOPS: resource.MustParse("3000"),
			ResourceTPS:  resource.MustParse("125Mi"),
		},
		ResizePolicy: storage.ResizePolicyExpandOnly,
	}
}

func TestValidateVolumeClass(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*storage.VolumeClass)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*storage.VolumeClass) {}},
		{name: "static", mutate: func(c *storage.VolumeClass) { c.ResizePolicy = storage.ResizePolicyStatic }},
		{name: "missing iops", mutate: func(c *storage.VolumeClass) { delete(c.Capabilities, ResourceIOPS) },
			want: []vt.FieldError{vt.Required("capabilities[iops]")}},
		{name: "missing capabilities", mutate: func(c *storage.VolumeClass) { c.Capabilities = nil },
			want: []vt.FieldError{vt.Required("capabilities[iops]"), vt.Required("capabilities[tps]")}},
		{name: "zero tps", mutate: func(c *storage.VolumeClass) { c.Capabilities[ResourceTPS] = resource.MustParse("0") },
			want: []vt.FieldError{vt.Invalid("capabilities[tps]")}},
		{name: "negative iops", mutate: func(c *storage.VolumeClass) { c.Capabilities[ResourceIOPS] = resource.MustParse("-1") },
			want: []vt.FieldError{vt.Invalid("capabilities[iops]")}},
		{name: "missing resize policy", mutate: func(c *storage.VolumeClass) { c.ResizePolicy = "" },
			want: []vt.FieldError{vt.Required("resizePolicy")}},
		{name: "encrypted", mutate: func(c *storage.VolumeClass) {
			c.Encryption = &storage.VolumeEncryption{Format: storage.EncryptionFormatLUKS2}
		}},
		{name: "unknown encryption format", mutate: func(c *storage.VolumeClass) { c.Encryption = &storage.VolumeEncryption{Format: "ROT13"} },
			want: []vt.FieldError{vt.NotSupported("encryption.format")}},
		{name: "missing encryption format", mutate: func(c *storage.VolumeClass) { c.Encryption = &storage.VolumeEncryption{} },
			want: []vt.FieldError{vt.Required("encryption.format")}},
		{name: "unknown resize policy", mutate: func(c *storage.VolumeClass) { c.ResizePolicy = "ShrinkOnly" },
			want: []vt.FieldError{vt.NotSupported("resizePolicy")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := validVolumeClass()
			tt.mutate(class)
			vt.Expect(t, ValidateVolumeClass(class), tt.want...)
		})
	}
}

func TestValidateVolumeClassUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*storage.VolumeClass)
		want []vt.FieldError
	}{
		{name: "resize policy may change", edit: func(c *storage.VolumeClass) { c.ResizePolicy = storage.ResizePolicyStatic }},
		{name: "capabilities are immutable", edit: func(c *storage.VolumeClass) { c.Capabilities[ResourceIOPS] = resource.MustParse("6000") },
			want: []vt.FieldError{vt.Invalid("capabilities")}},
		{name: "encryption cannot be added", edit: func(c *storage.VolumeClass) {
			c.Encryption = &storage.VolumeEncryption{Format: storage.EncryptionFormatLUKS2}
		}, want: []vt.FieldError{vt.Invalid("encryption")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldClass := validVolumeClass()
			newClass := oldClass.DeepCopy()
			tt.edit(newClass)
			vt.Expect(t, ValidateVolumeClassUpdate(newClass, oldClass), tt.want...)
		})
	}
}

func validVolumePool() *storage.VolumePool {
	return &storage.VolumePool{
		ObjectMeta: metav1.ObjectMeta{Name: "ceph-a"},
		Spec: storage.VolumePoolSpec{
			ProviderID: "ceph://cluster-a/rbd",
			Taints:     []corev1.Taint{{Key: "ferrite.dev/ssd", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func TestValidateVolumePool(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*storage.VolumePool)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*storage.VolumePool) {}},
		{name: "unknown taint effect", mutate: func(p *storage.VolumePool) { p.Spec.Taints[0].Effect = "NoMount" },
			want: []vt.FieldError{vt.NotSupported("spec.taints[0].effect")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := validVolumePool()
			tt.mutate(pool)
			vt.Expect(t, ValidateVolumePool(pool), tt.want...)
		})
	}
}

func TestValidateVolumePoolUpdate(t *testing.T) {
	tests := []struct {
		name      string
		old, edit func(*storage.VolumePool)
		want      []vt.FieldError
	}{
		{name: "taints may change", old: func(*storage.VolumePool) {}, edit: func(p *storage.VolumePool) { p.Spec.Taints = nil }},
		{name: "provider id may be set", old: func(p *storage.VolumePool) { p.Spec.ProviderID = "" }, edit: func(*storage.VolumePool) {}},
		{name: "provider id fixed once set", old: func(*storage.VolumePool) {},
			edit: func(p *storage.VolumePool) { p.Spec.ProviderID = "ceph://cluster-b/rbd" },
			want: []vt.FieldError{vt.Invalid("spec.providerID")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPool := validVolumePool()
			tt.old(oldPool)
			newPool := validVolumePool()
			tt.edit(newPool)
			vt.Expect(t, ValidateVolumePoolUpdate(newPool, oldPool), tt.want...)
		})
	}
}

func TestValidateVolumePoolStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status storage.VolumePoolStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "capacity per class", status: storage.VolumePoolStatus{
			Capacity:    corev1.ResourceList{"fast": resource.MustParse("10Ti")},
			Allocatable: corev1.ResourceList{"fast": resource.MustParse("2Ti")},
			Conditions:  []metav1.Condition{{Type: storage.VolumePoolConditionReady, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Unix(1, 0)}},
		}},
		{name: "negative capacity", status: storage.VolumePoolStatus{Capacity: corev1.ResourceList{"fast": resource.MustParse("-1")}},
			want: []vt.FieldError{vt.Invalid("status.capacity[fast]")}},
		{name: "negative allocatable", status: storage.VolumePoolStatus{Allocatable: corev1.ResourceList{"fast": resource.MustParse("-1")}},
			want: []vt.FieldError{vt.Invalid("status.allocatable[fast]")}},
		{name: "condition without type", status: storage.VolumePoolStatus{Conditions: []metav1.Condition{{Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Unix(1, 0)}}},
			want: []vt.FieldError{vt.Required("status.conditions[0].type")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := validVolumePool()
			pool.Status = tt.status
			vt.Expect(t, ValidateVolumePoolStatusUpdate(pool, validVolumePool()), tt.want...)
		})
	}
}

func validSnapshot() *storage.VolumeSnapshot {
	return &storage.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-data-snap"},
		Spec:       storage.VolumeSnapshotSpec{VolumeRef: corev1.LocalObjectReference{Name: "web-data"}},
	}
}

func TestValidateVolumeSnapshot(t *testing.T) {
	vt.Expect(t, ValidateVolumeSnapshot(validSnapshot()))
	missing := validSnapshot()
	missing.Spec.VolumeRef.Name = ""
	vt.Expect(t, ValidateVolumeSnapshot(missing), vt.Required("spec.volumeRef.name"))
	bad := validSnapshot()
	bad.Spec.VolumeRef.Name = "Web_Data"
	vt.Expect(t, ValidateVolumeSnapshot(bad), vt.Invalid("spec.volumeRef.name"))
}

func TestValidateVolumeSnapshotUpdate(t *testing.T) {
	unchanged := validSnapshot()
	unchanged.Labels = map[string]string{"backup": "daily"}
	vt.Expect(t, ValidateVolumeSnapshotUpdate(unchanged, validSnapshot()))
	// A snapshot is of one volume for life.
	moved := validSnapshot()
	moved.Spec.VolumeRef.Name = "other"
	vt.Expect(t, ValidateVolumeSnapshotUpdate(moved, validSnapshot()), vt.Invalid("spec.volumeRef"))
}

func TestValidateVolumeSnapshotStatusUpdate(t *testing.T) {
	size := resource.MustParse("10Gi")
	negative := resource.MustParse("-1")
	tests := []struct {
		name   string
		status storage.VolumeSnapshotStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "ready", status: storage.VolumeSnapshotStatus{State: storage.VolumeSnapshotStateReady, SnapshotID: "snap-1", RestoreSize: &size}},
		{name: "unknown state", status: storage.VolumeSnapshotStatus{State: "Done"},
			want: []vt.FieldError{vt.NotSupported("status.state")}},
		{name: "negative restore size", status: storage.VolumeSnapshotStatus{RestoreSize: &negative},
			want: []vt.FieldError{vt.Invalid("status.restoreSize")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snapshot := validSnapshot()
			snapshot.Status = tt.status
			vt.Expect(t, ValidateVolumeSnapshotStatusUpdate(snapshot, validSnapshot()), tt.want...)
		})
	}
}

// status.volumePoolRef is a valid name, set once and then fixed.
func TestValidateVolumeSnapshotPoolRef(t *testing.T) {
	held := func(pool string) *storage.VolumeSnapshot {
		s := validSnapshot()
		if pool != "" {
			s.Status.VolumePoolRef = &corev1.LocalObjectReference{Name: pool}
		}
		return s
	}
	tests := []struct {
		name     string
		old, new string
		want     []vt.FieldError
	}{
		{name: "set", new: "pool-a"},
		{name: "kept", old: "pool-a", new: "pool-a"},
		{name: "bad name", new: "Pool_A", want: []vt.FieldError{vt.Invalid("status.volumePoolRef.name")}},
		{name: "moved", old: "pool-a", new: "pool-b", want: []vt.FieldError{vt.Invalid("status.volumePoolRef")}},
		{name: "cleared", old: "pool-a", want: []vt.FieldError{vt.Invalid("status.volumePoolRef")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateVolumeSnapshotStatusUpdate(held(tt.new), held(tt.old)), tt.want...)
		})
	}
}
