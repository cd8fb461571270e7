package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateConditions(t *testing.T) {
	path := field.NewPath("status", "conditions")
	ready := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Unix(1, 0)}
	tests := []struct {
		name       string
		conditions []metav1.Condition
		want       []vt.FieldError
	}{
		{name: "valid", conditions: []metav1.Condition{ready}},
		{name: "duplicate type", conditions: []metav1.Condition{ready, ready}, want: []vt.FieldError{vt.Duplicate("status.conditions[1]")}},
		{name: "missing reason", conditions: []metav1.Condition{func() metav1.Condition { c := ready; c.Reason = ""; return c }()},
			want: []vt.FieldError{vt.Required("status.conditions[0].reason")}},
		{name: "unknown status", conditions: []metav1.Condition{func() metav1.Condition { c := ready; c.Status = "Maybe"; return c }()},
			want: []vt.FieldError{vt.NotSupported("status.conditions[0].status")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateConditions(tt.conditions, path), tt.want...)
		})
	}
}

func TestAddFieldLabels(t *testing.T) {
	gv := schema.GroupVersion{Group: "example.ferrite.dev", Version: "v1alpha1"}
	scheme := runtime.NewScheme()
	if err := AddFieldLabels(scheme, gv, map[string][]string{
		"Widget": {"spec.poolRef.name"},
		"Gadget": nil,
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind, label string
		ok          bool
	}{
		{kind: "Widget", label: "metadata.name", ok: true},
		{kind: "Widget", label: "metadata.namespace", ok: true},
		{kind: "Widget", label: "spec.poolRef.name", ok: true},
		{kind: "Widget", label: "status.state"},
		// Each kind has its own labels: the closure must not capture another kind's list.
		{kind: "Gadget", label: "spec.poolRef.name"},
		{kind: "Gadget", label: "metadata.name", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.label, func(t *testing.T) {
			label, value, err := scheme.ConvertFieldLabel(gv.WithKind(tt.kind), tt.label, "x")
			if tt.ok && (err != nil || label != tt.label || value != "x") {
				t.Errorf("ConvertFieldLabel = %q, %q, %v; want %q, x, nil", label, value, err, tt.label)
			}
			if !tt.ok && err == nil {
				t.Errorf("ConvertFieldLabel(%s) accepted an unsupported label", tt.label)
			}
		})
	}
}
