package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
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
		want     []vt.FieldError
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
		}, want: []vt.FieldError{vt.Required("capabilities[memory]")}},
		{name: "nothing given", required: requiredNames, want: []vt.FieldError{vt.Required("capabilities[cpu]"), vt.Required("capabilities[memory]")}},
		{name: "zero required", required: requiredNames, list: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("0"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		}, want: []vt.FieldError{vt.Invalid("capabilities[cpu]")}},
		// A negative required quantity is reported once, not as both negative and zero.
		{name: "negative required", required: requiredNames, list: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("-1"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		}, want: []vt.FieldError{vt.Invalid("capabilities[cpu]")}},
		{name: "negative optional", list: corev1.ResourceList{
			"example.com/gpu": resource.MustParse("-1"),
		}, want: []vt.FieldError{vt.Invalid("capabilities[example.com/gpu]")}},
		{name: "name not qualified", list: corev1.ResourceList{
			"bad name": resource.MustParse("1"),
		}, want: []vt.FieldError{vt.Invalid("capabilities[bad name]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateResourceList(tt.list, tt.required, path), tt.want...)
		})
	}
}

func TestValidateQuantitySign(t *testing.T) {
	path := field.NewPath("spec", "size")
	tests := []struct {
		quantity              string
		nonNegative, positive []vt.FieldError
	}{
		{quantity: "1Gi"},
		{quantity: "0", positive: []vt.FieldError{vt.Invalid("spec.size")}},
		{quantity: "-1Mi", nonNegative: []vt.FieldError{vt.Invalid("spec.size")}, positive: []vt.FieldError{vt.Invalid("spec.size")}},
	}
	for _, tt := range tests {
		t.Run(tt.quantity, func(t *testing.T) {
			q := resource.MustParse(tt.quantity)
			vt.Expect(t, ValidateNonNegativeQuantity(q, path), tt.nonNegative...)
			vt.Expect(t, ValidatePositiveQuantity(q, path), tt.positive...)
		})
	}
}
