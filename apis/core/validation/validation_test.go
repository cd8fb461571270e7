package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/core"
)

func quota(hard corev1.ResourceList) *core.ResourceQuota {
	return &core.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "limits"},
		Spec:       core.ResourceQuotaSpec{Hard: hard},
	}
}

func TestValidateResourceQuota(t *testing.T) {
	one := resource.MustParse("1")
	tests := []struct {
		name string
		hard corev1.ResourceList
		want []vt.FieldError
	}{
		{name: "empty"},
		{name: "every kind of name", hard: corev1.ResourceList{
			core.ResourceRequestsCPU:                  resource.MustParse("64"),
			core.ResourceRequestsMemory:               resource.MustParse("256Gi"),
			core.ResourceRequestsStorage:              resource.MustParse("10Ti"),
			"count/machines.compute.ferrite.dev":      resource.MustParse("20"),
			"count/networks.networking.ferrite.dev":   resource.MustParse("0"),
			"x3-large" + MachineClassQuotaSuffix:      resource.MustParse("4"),
			"fast" + VolumeClassQuotaSuffix:           resource.MustParse("1Ti"),
			"gen2.x3-large" + MachineClassQuotaSuffix: resource.MustParse("1"),
		}},
		{name: "negative limit", hard: corev1.ResourceList{core.ResourceRequestsCPU: resource.MustParse("-1")},
			want: []vt.FieldError{vt.Invalid("spec.hard[requests.cpu]")}},
		{name: "plain cpu is not a quota name", hard: corev1.ResourceList{corev1.ResourceCPU: one},
			want: []vt.FieldError{vt.Invalid("spec.hard[cpu]")}},
		{name: "count of a foreign group", hard: corev1.ResourceList{"count/pods.apps": one},
			want: []vt.FieldError{vt.Invalid("spec.hard[count/pods.apps]")}},
		// A group merely ending in "ferrite.dev" is not one of ours.
		{name: "count of a look-alike group", hard: corev1.ResourceList{"count/machines.notferrite.dev": one},
			want: []vt.FieldError{vt.Invalid("spec.hard[count/machines.notferrite.dev]")}},
		{name: "count without group", hard: corev1.ResourceList{"count/machines": one},
			want: []vt.FieldError{vt.Invalid("spec.hard[count/machines]")}},
		{name: "count without resource", hard: corev1.ResourceList{"count/.compute.ferrite.dev": one},
			// Also not a qualified resource name, so reported twice.
			want: []vt.FieldError{vt.Invalid("spec.hard[count/.compute.ferrite.dev]"), vt.Invalid("spec.hard[count/.compute.ferrite.dev]")}},
		{name: "machine class suffix without class", hard: corev1.ResourceList{corev1.ResourceName(MachineClassQuotaSuffix[1:]): one},
			want: []vt.FieldError{vt.Invalid("spec.hard[" + MachineClassQuotaSuffix[1:] + "]")}},
		{name: "volume class name not a dns name", hard: corev1.ResourceList{"Fast_SSD" + VolumeClassQuotaSuffix: one},
			// Also not a qualified resource name, so reported twice.
			want: []vt.FieldError{vt.Invalid("spec.hard[Fast_SSD" + VolumeClassQuotaSuffix + "]"), vt.Invalid("spec.hard[Fast_SSD" + VolumeClassQuotaSuffix + "]")}},
		{name: "unknown per-class resource", hard: corev1.ResourceList{"fast.volumeclass.storage.ferrite.dev/iops": one},
			want: []vt.FieldError{vt.Invalid("spec.hard[fast.volumeclass.storage.ferrite.dev/iops]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateResourceQuota(quota(tt.hard)), tt.want...)
			// Updates check the new spec with the same rules.
			vt.Expect(t, ValidateResourceQuotaUpdate(quota(tt.hard), quota(nil)), tt.want...)
		})
	}
}

func TestValidateResourceQuotaStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status core.ResourceQuotaStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "usage", status: core.ResourceQuotaStatus{
			Hard: corev1.ResourceList{core.ResourceRequestsCPU: resource.MustParse("64")},
			Used: corev1.ResourceList{core.ResourceRequestsCPU: resource.MustParse("0")},
		}},
		{name: "negative used", status: core.ResourceQuotaStatus{Used: corev1.ResourceList{core.ResourceRequestsCPU: resource.MustParse("-2")}},
			want: []vt.FieldError{vt.Invalid("status.used[requests.cpu]")}},
		{name: "negative hard", status: core.ResourceQuotaStatus{Hard: corev1.ResourceList{core.ResourceRequestsMemory: resource.MustParse("-1Gi")}},
			want: []vt.FieldError{vt.Invalid("status.hard[requests.memory]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := quota(nil)
			q.Status = tt.status
			vt.Expect(t, ValidateResourceQuotaStatusUpdate(q, quota(nil)), tt.want...)
		})
	}
}
