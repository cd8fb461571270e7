package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateTaints(t *testing.T) {
	path := field.NewPath("spec", "taints")
	tests := []struct {
		name   string
		taints []corev1.Taint
		want   []vt.FieldError
	}{
		{name: "none"},
		{name: "valid", taints: []corev1.Taint{
			{Key: "ferrite.dev/maintenance", Value: "true", Effect: corev1.TaintEffectNoSchedule},
			// The same key with another effect is a different taint.
			{Key: "ferrite.dev/maintenance", Value: "true", Effect: corev1.TaintEffectNoExecute},
			{Key: "dedicated", Effect: corev1.TaintEffectPreferNoSchedule},
		}},
		{name: "bad key", taints: []corev1.Taint{{Key: "bad key", Effect: corev1.TaintEffectNoSchedule}},
			want: []vt.FieldError{vt.Invalid("spec.taints[0].key")}},
		// apimachinery's label-name check reports an empty key twice (empty name part, bad format).
		{name: "empty key", taints: []corev1.Taint{{Effect: corev1.TaintEffectNoSchedule}},
			want: []vt.FieldError{vt.Invalid("spec.taints[0].key"), vt.Invalid("spec.taints[0].key")}},
		{name: "bad value", taints: []corev1.Taint{{Key: "k", Value: "not a label value", Effect: corev1.TaintEffectNoSchedule}},
			want: []vt.FieldError{vt.Invalid("spec.taints[0].value")}},
		{name: "missing effect", taints: []corev1.Taint{{Key: "k"}},
			want: []vt.FieldError{vt.Required("spec.taints[0].effect")}},
		{name: "unknown effect", taints: []corev1.Taint{{Key: "k", Effect: "NoEntry"}},
			want: []vt.FieldError{vt.NotSupported("spec.taints[0].effect")}},
		{name: "duplicate key and effect", taints: []corev1.Taint{
			{Key: "k", Value: "a", Effect: corev1.TaintEffectNoSchedule},
			{Key: "k", Value: "b", Effect: corev1.TaintEffectNoSchedule},
		}, want: []vt.FieldError{vt.Duplicate("spec.taints[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateTaints(tt.taints, path), tt.want...)
		})
	}
}

func TestValidateTolerations(t *testing.T) {
	path := field.NewPath("spec", "tolerations")
	seconds := int64(30)
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		want        []vt.FieldError
	}{
		{name: "none"},
		{name: "valid", tolerations: []corev1.Toleration{
			{Key: "ferrite.dev/maintenance", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
			{Key: "dedicated", Value: "db"}, // an empty operator means Equal
			{Key: "dedicated", Operator: corev1.TolerationOpExists},
			{Operator: corev1.TolerationOpExists}, // tolerates everything
			{Key: "unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds},
		}},
		{name: "bad key", tolerations: []corev1.Toleration{{Key: "bad key", Operator: corev1.TolerationOpExists}},
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].key")}},
		{name: "exists with value", tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}},
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].value")}},
		{name: "equal without key", tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "v"}},
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].operator")}},
		{name: "empty operator without key", tolerations: []corev1.Toleration{{}},
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].operator")}},
		{name: "bad value", tolerations: []corev1.Toleration{{Key: "k", Value: "not a label value"}},
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].value")}},
		{name: "unknown operator", tolerations: []corev1.Toleration{{Key: "k", Operator: "In"}},
			want: []vt.FieldError{vt.NotSupported("spec.tolerations[0].operator")}},
		{name: "unknown effect", tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "NoEntry"}},
			want: []vt.FieldError{vt.NotSupported("spec.tolerations[0].effect")}},
		{name: "seconds without NoExecute", tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: &seconds}},
			want: []vt.FieldError{vt.Invalid("spec.tolerations[0].tolerationSeconds")}},
		{name: "error names the index", tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}, {Key: "k", Operator: "In"}},
			want: []vt.FieldError{vt.NotSupported("spec.tolerations[1].operator")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateTolerations(tt.tolerations, path), tt.want...)
		})
	}
}
