package validation

import (
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
		want   []fieldErr
	}{
		{name: "valid", mutate: func(*storage.VolumeClass) {}},
		{name: "static", mutate: func(c *storage.VolumeClass) { c.ResizePolicy = storage.ResizePolicyStatic }},
		{name: "missing iops", mutate: func(c *storage.VolumeClass) { delete(c.Capabilities, ResourceIOPS) },
			want: []fieldErr{required("capabilities[iops]")}},
		{name: "missing capabilities", mutate: func(c *storage.VolumeClass) { c.Capabilities = nil },
			want: []fieldErr{required("capabilities[iops]"), required("capabilities[tps]")}},
		{name: "zero tps", mutate: func(c *storage.VolumeClass) { c.Capabilities[ResourceTPS] = resource.MustParse("0") },
			want: []fieldErr{invalid("capabilities[tps]")}},
		{name: "negative iops", mutate: func(c *storage.VolumeClass) { c.Capabilities[ResourceIOPS] = resource.MustParse("-1") },
			want: []fieldErr{invalid("capabilities[iops]")}},
		{name: "missing resize policy", mutate: func(c *storage.VolumeClass) { c.ResizePolicy = "" },
			want: []fieldErr{required("resizePolicy")}},
		{name: "unknown resize policy", mutate: func(c *storage.VolumeClass) { c.ResizePolicy = "ShrinkOnly" },
			want: []fieldErr{notSupported("resizePolicy")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := validVolumeClass()
			tt.mutate(class)
			expectErrors(t, ValidateVolumeClass(class), tt.want...)
		})
	}
}

func TestValidateVolumeClassUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*storage.VolumeClass)
		want []fieldErr
	}{
		{name: "resize policy may change", edit: func(c *storage.VolumeClass) { c.ResizePolicy = storage.ResizePolicyStatic }},
		{name: "capabilities are immutable", edit: func(c *storage.VolumeClass) { c.Capabilities[ResourceIOPS] = resource.MustParse("6000") },
			want: []fieldErr{invalid("capabilities")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldClass := validVolumeClass()
			newClass := oldClass.DeepCopy()
			tt.edit(newClass)
			expectErrors(t, ValidateVolumeClassUpdate(newClass, oldClass), tt.want...)
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
		want   []fieldErr
	}{
		{name: "valid", mutate: func(*storage.VolumePool) {}},
		{name: "unknown taint effect", mutate: func(p *storage.VolumePool) { p.Spec.Taints[0].Effect = "NoMount" },
			want: []fieldErr{notSupported("spec.taints[0].effect")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := validVolumePool()
			tt.mutate(pool)
			expectErrors(t, ValidateVolumePool(pool), tt.want...)
		})
	}
}

func TestValidateVolumePoolUpdate(t *testing.T) {
	tests := []struct {
		name      string
		old, edit func(*storage.VolumePool)
		want      []fieldErr
	}{
		{name: "taints may change", old: func(*storage.VolumePool) {}, edit: func(p *storage.VolumePool) { p.Spec.Taints = nil }},
		{name: "provider id may be set", old: func(p *storage.VolumePool) { p.Spec.ProviderID = "" }, edit: func(*storage.VolumePool) {}},
		{name: "provider id fixed once set", old: func(*storage.VolumePool) {},
			edit: func(p *storage.VolumePool) { p.Spec.ProviderID = "ceph://cluster-b/rbd" },
			want: []fieldErr{invalid("spec.providerID")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPool := validVolumePool()
			tt.old(oldPool)
			newPool := validVolumePool()
			tt.edit(newPool)
			expectErrors(t, ValidateVolumePoolUpdate(newPool, oldPool), tt.want...)
		})
	}
}

func TestValidateVolumePoolStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status storage.VolumePoolStatus
		want   []fieldErr
	}{
		{name: "empty"},
		{name: "capacity per class", status: storage.VolumePoolStatus{
			Capacity:    corev1.ResourceList{"fast": resource.MustParse("10Ti")},
			Allocatable: corev1.ResourceList{"fast": resource.MustParse("2Ti")},
			Conditions:  []metav1.Condition{{Type: storage.VolumePoolConditionReady, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Unix(1, 0)}},
		}},
		{name: "negative capacity", status: storage.VolumePoolStatus{Capacity: corev1.ResourceList{"fast": resource.MustParse("-1")}},
			want: []fieldErr{invalid("status.capacity[fast]")}},
		{name: "negative allocatable", status: storage.VolumePoolStatus{Allocatable: corev1.ResourceList{"fast": resource.MustParse("-1")}},
			want: []fieldErr{invalid("status.allocatable[fast]")}},
		{name: "condition without type", status: storage.VolumePoolStatus{Conditions: []metav1.Condition{{Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Unix(1, 0)}}},
			want: []fieldErr{required("status.conditions[0].type")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := validVolumePool()
			pool.Status = tt.status
			expectErrors(t, ValidateVolumePoolStatusUpdate(pool, validVolumePool()), tt.want...)
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
	expectErrors(t, ValidateVolumeSnapshot(validSnapshot()))
	missing := validSnapshot()
	missing.Spec.VolumeRef.Name = ""
	expectErrors(t, ValidateVolumeSnapshot(missing), required("spec.volumeRef.name"))
	bad := validSnapshot()
	bad.Spec.VolumeRef.Name = "Web_Data"
	expectErrors(t, ValidateVolumeSnapshot(bad), invalid("spec.volumeRef.name"))
}

func TestValidateVolumeSnapshotUpdate(t *testing.T) {
	unchanged := validSnapshot()
	unchanged.Labels = map[string]string{"backup": "daily"}
	expectErrors(t, ValidateVolumeSnapshotUpdate(unchanged, validSnapshot()))
	// A snapshot is of one volume for life.
	moved := validSnapshot()
	moved.Spec.VolumeRef.Name = "other"
	expectErrors(t, ValidateVolumeSnapshotUpdate(moved, validSnapshot()), invalid("spec.volumeRef"))
}

func TestValidateVolumeSnapshotStatusUpdate(t *testing.T) {
	size := resource.MustParse("10Gi")
	negative := resource.MustParse("-1")
	tests := []struct {
		name   string
		status storage.VolumeSnapshotStatus
		want   []fieldErr
	}{
		{name: "empty"},
		{name: "ready", status: storage.VolumeSnapshotStatus{State: storage.VolumeSnapshotStateReady, SnapshotID: "snap-1", RestoreSize: &size}},
		{name: "unknown state", status: storage.VolumeSnapshotStatus{State: "Done"},
			want: []fieldErr{notSupported("status.state")}},
		{name: "negative restore size", status: storage.VolumeSnapshotStatus{RestoreSize: &negative},
			want: []fieldErr{invalid("status.restoreSize")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snapshot := validSnapshot()
			snapshot.Status = tt.status
			expectErrors(t, ValidateVolumeSnapshotStatusUpdate(snapshot, validSnapshot()), tt.want...)
		})
	}
}
