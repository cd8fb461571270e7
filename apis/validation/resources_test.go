package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateResourceList(t *testing.T) {
	path := field.NewPath("capabilities")
	requiredNames := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	tests := []struct {
		name     string
		list     corev1.ResourceList
		required []corev1.ResourceName
		want     []fieldErr
	}{
		{name: "required present", required: requiredNames, list: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		}},
		{name: "extra qualified names", list: corev1.ResourceList{
			"example.com/gpu": resource.MustParse("1"), "zero": resource.MustParse("0"),
		}},
		{name: "empty list, nothing required"},
		{name: "missing required", required: requiredNames, list: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"),
		}, want: []fieldErr{required("capabilities[memory]")}},
		{name: "nothing given", required: requiredNames, want: []fieldErr{required("capabilities[cpu]"), required("capabilities[memory]")}},
		{name: "zero required", required: requiredNames, list: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("0"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		}, want: []fieldErr{invalid("capabilities[cpu]")}},
		// A negative required quantity is reported once, not as both negative and zero.
		{name: "negative required", required: requiredNames, list: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("-1"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		}, want: []fieldErr{invalid("capabilities[cpu]")}},
		{name: "negative optional", list: corev1.ResourceList{
			"example.com/gpu": resource.MustParse("-1"),
		}, want: []fieldErr{invalid("capabilities[example.com/gpu]")}},
		{name: "name not qualified", list: corev1.ResourceList{
			"bad name": resource.MustParse("1"),
		}, want: []fieldErr{invalid("capabilities[bad name]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidateResourceList(tt.list, tt.required, path), tt.want...)
		})
	}
}

func TestValidateQuantitySign(t *testing.T) {
	path := field.NewPath("spec", "size")
	tests := []struct {
		quantity              string
		nonNegative, positive []fieldErr
	}{
		{quantity: "1Gi"},
		{quantity: "0", positive: []fieldErr{invalid("spec.size")}},
		{quantity: "-1Mi", nonNegative: []fieldErr{invalid("spec.size")}, positive: []fieldErr{invalid("spec.size")}},
	}
	for _, tt := range tests {
		t.Run(tt.quantity, func(t *testing.T) {
			q := resource.MustParse(tt.quantity)
			expectErrors(t, ValidateNonNegativeQuantity(q, path), tt.nonNegative...)
			expectErrors(t, ValidatePositiveQuantity(q, path), tt.positive...)
		})
	}
}
