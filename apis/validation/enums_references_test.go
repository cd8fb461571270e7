package validation

import (
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
		want     []fieldErr
	}{
		{name: "allowed", value: corev1.ProtocolUDP, required: true},
		{name: "empty optional", value: ""},
		{name: "empty required", value: "", required: true, want: []fieldErr{required("spec.protocol")}},
		{name: "unknown", value: "ICMP", want: []fieldErr{notSupported("spec.protocol")}},
		{name: "wrong case", value: "tcp", required: true, want: []fieldErr{notSupported("spec.protocol")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidateEnum(tt.value, allowed, tt.required, path), tt.want...)
		})
	}
}

func TestValidateObjectName(t *testing.T) {
	path := field.NewPath("spec", "ref", "name")
	tests := []struct {
		name  string
		value string
		want  []fieldErr
	}{
		{name: "dns subdomain", value: "my-class.v2"},
		{name: "empty", value: "", want: []fieldErr{required("spec.ref.name")}},
		{name: "upper case", value: "MyClass", want: []fieldErr{invalid("spec.ref.name")}},
		{name: "underscore", value: "my_class", want: []fieldErr{invalid("spec.ref.name")}},
		{name: "too long", value: strings.Repeat("a", 254), want: []fieldErr{invalid("spec.ref.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidateObjectName(tt.value, path), tt.want...)
		})
	}
}

func TestValidateLocalRef(t *testing.T) {
	path := field.NewPath("spec", "machineClassRef")
	// The error names the name field of the reference, not the reference itself.
	expectErrors(t, ValidateLocalRef(corev1.LocalObjectReference{}, path), required("spec.machineClassRef.name"))
	expectErrors(t, ValidateLocalRef(corev1.LocalObjectReference{Name: "Bad"}, path), invalid("spec.machineClassRef.name"))
	expectErrors(t, ValidateLocalRef(corev1.LocalObjectReference{Name: "good"}, path))
	expectErrors(t, ValidateOptionalLocalRef(nil, path))
	expectErrors(t, ValidateOptionalLocalRef(&corev1.LocalObjectReference{}, path), required("spec.machineClassRef.name"))
}

func TestValidateDNSLabel(t *testing.T) {
	path := field.NewPath("spec", "volumes").Index(0).Child("name")
	tests := []struct {
		name  string
		value string
		want  []fieldErr
	}{
		{name: "label", value: "root-disk"},
		{name: "empty", value: "", want: []fieldErr{required("spec.volumes[0].name")}},
		{name: "dots are not allowed in a label", value: "root.disk", want: []fieldErr{invalid("spec.volumes[0].name")}},
		{name: "too long", value: strings.Repeat("a", 64), want: []fieldErr{invalid("spec.volumes[0].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidateDNSLabel(tt.value, path), tt.want...)
		})
	}
}

func TestValidateSelectorMap(t *testing.T) {
	path := field.NewPath("spec", "machinePoolSelector")
	expectErrors(t, ValidateSelectorMap(nil, path))
	expectErrors(t, ValidateSelectorMap(map[string]string{"topology.ferrite.dev/zone": "a"}, path))
	expectErrors(t, ValidateSelectorMap(map[string]string{"bad key!": "a"}, path), invalid("spec.machinePoolSelector"))
	expectErrors(t, ValidateSelectorMap(map[string]string{"zone": "bad value!"}, path), invalid("spec.machinePoolSelector"))
}

func TestValidateUniqueNames(t *testing.T) {
	path := field.NewPath("spec", "volumes")
	tests := []struct {
		name  string
		names []string
		want  []fieldErr
	}{
		{name: "distinct", names: []string{"a", "b", "c"}},
		// Empty names are reported as required by the caller, not as duplicates.
		{name: "empty names", names: []string{"", ""}},
		{name: "second copy named", names: []string{"a", "b", "a"}, want: []fieldErr{duplicate("spec.volumes[2].name")}},
		{name: "every extra copy named", names: []string{"a", "a", "a"}, want: []fieldErr{duplicate("spec.volumes[1].name"), duplicate("spec.volumes[2].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidateUniqueNames(tt.names, path), tt.want...)
		})
	}
}
