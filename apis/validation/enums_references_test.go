package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateEnum(t *testing.T) {
	allowed := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP}
	path := field.NewPath("spec", "protocol")
	tests := []struct {
		name     string
		value    corev1.Protocol
		required bool
		want     []vt.FieldError
	}{
		{name: "allowed", value: corev1.ProtocolUDP, required: true},
		{name: "empty optional", value: ""},
		{name: "empty required", value: "", required: true, want: []vt.FieldError{vt.Required("spec.protocol")}},
		{name: "unknown", value: "ICMP", want: []vt.FieldError{vt.NotSupported("spec.protocol")}},
		{name: "wrong case", value: "tcp", required: true, want: []vt.FieldError{vt.NotSupported("spec.protocol")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateEnum(tt.value, allowed, tt.required, path), tt.want...)
		})
	}
}

func TestValidateObjectName(t *testing.T) {
	path := field.NewPath("spec", "ref", "name")
	tests := []struct {
		name  string
		value string
		want  []vt.FieldError
	}{
		{name: "dns subdomain", value: "my-class.v2"},
		{name: "empty", value: "", want: []vt.FieldError{vt.Required("spec.ref.name")}},
		{name: "upper case", value: "MyClass", want: []vt.FieldError{vt.Invalid("spec.ref.name")}},
		{name: "underscore", value: "my_class", want: []vt.FieldError{vt.Invalid("spec.ref.name")}},
		{name: "too long", value: strings.Repeat("a", 254), want: []vt.FieldError{vt.Invalid("spec.ref.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateObjectName(tt.value, path), tt.want...)
		})
	}
}

func TestValidateLocalRef(t *testing.T) {
	path := field.NewPath("spec", "machineClassRef")
	// The error names the name field of the reference, not the reference itself.
	vt.Expect(t, ValidateLocalRef(corev1.LocalObjectReference{}, path), vt.Required("spec.machineClassRef.name"))
	vt.Expect(t, ValidateLocalRef(corev1.LocalObjectReference{Name: "Bad"}, path), vt.Invalid("spec.machineClassRef.name"))
	vt.Expect(t, ValidateLocalRef(corev1.LocalObjectReference{Name: "good"}, path))
	vt.Expect(t, ValidateOptionalLocalRef(nil, path))
	vt.Expect(t, ValidateOptionalLocalRef(&corev1.LocalObjectReference{}, path), vt.Required("spec.machineClassRef.name"))
}

func TestValidateDNSLabel(t *testing.T) {
	path := field.NewPath("spec", "volumes").Index(0).Child("name")
	tests := []struct {
		name  string
		value string
		want  []vt.FieldError
	}{
		{name: "label", value: "root-disk"},
		{name: "empty", value: "", want: []vt.FieldError{vt.Required("spec.volumes[0].name")}},
		{name: "dots are not allowed in a label", value: "root.disk", want: []vt.FieldError{vt.Invalid("spec.volumes[0].name")}},
		{name: "too long", value: strings.Repeat("a", 64), want: []vt.FieldError{vt.Invalid("spec.volumes[0].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateDNSLabel(tt.value, path), tt.want...)
		})
	}
}

func TestValidateSelectorMap(t *testing.T) {
	path := field.NewPath("spec", "machinePoolSelector")
	vt.Expect(t, ValidateSelectorMap(nil, path))
	vt.Expect(t, ValidateSelectorMap(map[string]string{"topology.ferrite.dev/zone": "a"}, path))
	vt.Expect(t, ValidateSelectorMap(map[string]string{"bad key!": "a"}, path), vt.Invalid("spec.machinePoolSelector"))
	vt.Expect(t, ValidateSelectorMap(map[string]string{"zone": "bad value!"}, path), vt.Invalid("spec.machinePoolSelector"))
}

func TestValidateUniqueNames(t *testing.T) {
	path := field.NewPath("spec", "volumes")
	tests := []struct {
		name  string
		names []string
		want  []vt.FieldError
	}{
		{name: "distinct", names: []string{"a", "b", "c"}},
		// Empty names are reported as required by the caller, not as duplicates.
		{name: "empty names", names: []string{"", ""}},
		{name: "second copy named", names: []string{"a", "b", "a"}, want: []vt.FieldError{vt.Duplicate("spec.volumes[2].name")}},
		{name: "every extra copy named", names: []string{"a", "a", "a"}, want: []vt.FieldError{vt.Duplicate("spec.volumes[1].name"), vt.Duplicate("spec.volumes[2].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateUniqueNames(tt.names, path), tt.want...)
		})
	}
}
