package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateIP(t *testing.T) {
	path := field.NewPath("spec", "ip")
	tests := []struct {
		name  string
		value string
		want  []vt.FieldError
	}{
		{name: "ipv4", value: "10.0.0.1"},
		{name: "ipv6", value: "2001:db8::1"},
		{name: "empty is required", value: "", want: []vt.FieldError{vt.Required("spec.ip")}},
		{name: "garbage", value: "not-an-ip", want: []vt.FieldError{vt.Invalid("spec.ip")}},
		{name: "cidr is not an address", value: "10.0.0.1/24", want: []vt.FieldError{vt.Invalid("spec.ip")}},
		{name: "ipv4 with leading zeros", value: "010.0.0.1", want: []vt.FieldError{vt.Invalid("spec.ip")}},
		{name: "ipv6 upper case is not canonical", value: "2001:DB8::1", want: []vt.FieldError{vt.Invalid("spec.ip")}},
		{name: "ipv6 uncompressed is not canonical", value: "2001:db8:0:0:0:0:0:1", want: []vt.FieldError{vt.Invalid("spec.ip")}},
		{name: "ipv6 zone", value: "fe80::1%eth0", want: []vt.FieldError{vt.Invalid("spec.ip")}},
		{name: "ipv4-mapped ipv6", value: "::ffff:10.0.0.1", want: []vt.FieldError{vt.Invalid("spec.ip")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateIP(tt.value, path), tt.want...)
		})
	}
}

func TestValidateCIDR(t *testing.T) {
	path := field.NewPath("spec", "prefixes").Index(0)
	tests := []struct {
		name  string
		value string
		want  []vt.FieldError
	}{
		{name: "ipv4", value: "10.0.0.0/16"},
		{name: "ipv4 host route", value: "10.0.0.1/32"},
		{name: "ipv6", value: "2001:db8::/64"},
		{name: "default route", value: "0.0.0.0/0"},
		{name: "empty is required", value: "", want: []vt.FieldError{vt.Required("spec.prefixes[0]")}},
		{name: "garbage", value: "ten-dot-zero", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		{name: "address without length", value: "10.0.0.0", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		{name: "length too long", value: "10.0.0.0/33", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		{name: "ipv4 host bits set", value: "10.0.0.1/16", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		{name: "ipv6 host bits set", value: "2001:db8::1/64", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		// A prefix has one spelling, so that equal prefixes compare equal as strings.
		{name: "ipv6 upper case is not canonical", value: "2001:DB8::/64", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		{name: "ipv6 uncompressed is not canonical", value: "2001:db8:0:0::/64", want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateCIDR(tt.value, path), tt.want...)
		})
	}
}

func TestParseCIDRSuggestsNetwork(t *testing.T) {
	// The message for a CIDR with host bits names the network the user probably meant.
	_, err := ParseCIDR("192.168.1.7/24")
	if err == nil || err.Error() != "must be a network address without host bits, for example 192.168.1.0/24" {
		t.Fatalf("ParseCIDR(192.168.1.7/24) error = %v", err)
	}
	prefix, err := ParseCIDR("192.168.1.0/24")
	if err != nil || prefix.Bits() != 24 || prefix.Addr().String() != "192.168.1.0" {
		t.Fatalf("ParseCIDR(192.168.1.0/24) = %v, %v", prefix, err)
	}
}

func TestValidateIPFamily(t *testing.T) {
	path := field.NewPath("spec", "ipFamily")
	tests := []struct {
		name   string
		family corev1.IPFamily
		want   []vt.FieldError
	}{
		{name: "ipv4", family: corev1.IPv4Protocol},
		{name: "ipv6", family: corev1.IPv6Protocol},
		{name: "empty is required", family: "", want: []vt.FieldError{vt.Required("spec.ipFamily")}},
		{name: "unknown", family: "IPv5", want: []vt.FieldError{vt.NotSupported("spec.ipFamily")}},
		{name: "wrong case", family: "ipv4", want: []vt.FieldError{vt.NotSupported("spec.ipFamily")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidateIPFamily(tt.family, path), tt.want...)
		})
	}
}

func TestFamilyOf(t *testing.T) {
	tests := []struct {
		addr string
		want corev1.IPFamily
	}{
		{addr: "10.0.0.1", want: corev1.IPv4Protocol},
		{addr: "2001:db8::1", want: corev1.IPv6Protocol},
		// A v4-mapped v6 address is spelled as v6, so it is v6.
		{addr: "::ffff:10.0.0.1", want: corev1.IPv6Protocol},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			prefix, err := ParseCIDR(tt.addr + "/" + map[corev1.IPFamily]string{corev1.IPv4Protocol: "32", corev1.IPv6Protocol: "128"}[tt.want])
			if err != nil {
				t.Fatal(err)
			}
			if got := FamilyOf(prefix.Addr()); got != tt.want {
				t.Errorf("FamilyOf(%s) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
}

func TestValidatePortRange(t *testing.T) {
	path := field.NewPath("spec", "ports").Index(0)
	tests := []struct {
		name    string
		port    int32
		endPort *int32
		want    []vt.FieldError
	}{
		{name: "single port", port: 443},
		{name: "lowest and highest", port: 1, endPort: int32Ptr(65535)},
		{name: "range of one", port: 80, endPort: int32Ptr(80)},
		{name: "port zero", port: 0, want: []vt.FieldError{vt.Invalid("spec.ports[0].port")}},
		{name: "negative port", port: -1, want: []vt.FieldError{vt.Invalid("spec.ports[0].port")}},
		{name: "port too high", port: 65536, want: []vt.FieldError{vt.Invalid("spec.ports[0].port")}},
		{name: "end below port", port: 8080, endPort: int32Ptr(80), want: []vt.FieldError{vt.Invalid("spec.ports[0].endPort")}},
		{name: "end too high", port: 80, endPort: int32Ptr(70000), want: []vt.FieldError{vt.Invalid("spec.ports[0].endPort")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt.Expect(t, ValidatePortRange(tt.port, tt.endPort, path), tt.want...)
		})
	}
}

func int32Ptr(v int32) *int32 { return &v }
