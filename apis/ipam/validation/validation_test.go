package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/ipam"
)

func rootPrefix() *ipam.Prefix {
	return &ipam.Prefix{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "tenant-v4"},
		Spec:       ipam.PrefixSpec{IPFamily: corev1.IPv4Protocol, Prefix: "10.0.0.0/16"},
	}
}

func childPrefix() *ipam.Prefix {
	return &ipam.Prefix{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "subnet-a"},
		Spec: ipam.PrefixSpec{
			IPFamily:     corev1.IPv4Protocol,
			PrefixLength: 24,
			ParentRef:    &corev1.LocalObjectReference{Name: "tenant-v4"},
		},
	}
}

func TestValidatePrefix(t *testing.T) {
	tests := []struct {
		name string
		// base is rootPrefix or childPrefix.
		base   func() *ipam.Prefix
		mutate func(*ipam.Prefix)
		want   []vt.FieldError
	}{
		{name: "root", base: rootPrefix, mutate: func(*ipam.Prefix) {}},
		{name: "root ipv6", base: rootPrefix, mutate: func(p *ipam.Prefix) {
			p.Spec = ipam.PrefixSpec{IPFamily: corev1.IPv6Protocol, Prefix: "2001:db8::/48"}
		}},
		{name: "root with matching length", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.PrefixLength = 16 }},
		{name: "child by length", base: childPrefix, mutate: func(*ipam.Prefix) {}},
		{name: "child ipv6 /64", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.IPFamily = corev1.IPv6Protocol; p.Spec.PrefixLength = 64 }},
		{name: "child by cidr", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.PrefixLength = 0; p.Spec.Prefix = "10.0.1.0/24" }},
		{name: "child by cidr and matching length", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.1.0/24" }},
		{name: "missing family", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.IPFamily = "" },
			want: []vt.FieldError{vt.Required("spec.ipFamily")}},
		{name: "unknown family", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.IPFamily = "IPv5" },
			want: []vt.FieldError{vt.NotSupported("spec.ipFamily")}},
		{name: "root without cidr", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.Prefix = "" },
			want: []vt.FieldError{vt.Required("spec.prefix")}},
		{name: "cidr with host bits", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.3.0/16" },
			want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "garbage cidr", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.0.0/sixteen" },
			want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "non-canonical ipv6 cidr", base: rootPrefix, mutate: func(p *ipam.Prefix) {
			p.Spec = ipam.PrefixSpec{IPFamily: corev1.IPv6Protocol, Prefix: "2001:0db8::/48"}
		}, want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "cidr of the other family", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.Prefix = "2001:db8::/48" },
			want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "length disagrees with cidr", base: rootPrefix, mutate: func(p *ipam.Prefix) { p.Spec.PrefixLength = 24 },
			want: []vt.FieldError{vt.Invalid("spec.prefixLength")}},
		{name: "empty parent ref", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.ParentRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.parentRef.name")}},
		{name: "child without cidr or length", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.PrefixLength = 0 },
			want: []vt.FieldError{vt.Required("spec.prefixLength")}},
		{name: "ipv4 length too long", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.PrefixLength = 33 },
			want: []vt.FieldError{vt.Invalid("spec.prefixLength")}},
		{name: "ipv6 length too long", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.IPFamily = corev1.IPv6Protocol; p.Spec.PrefixLength = 129 },
			want: []vt.FieldError{vt.Invalid("spec.prefixLength")}},
		{name: "negative length", base: childPrefix, mutate: func(p *ipam.Prefix) { p.Spec.PrefixLength = -8 },
			want: []vt.FieldError{vt.Invalid("spec.prefixLength")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := tt.base()
			tt.mutate(prefix)
			vt.Expect(t, ValidatePrefix(prefix), tt.want...)
		})
	}
}

func TestValidatePrefixUpdate(t *testing.T) {
	tests := []struct {
		name      string
		base      func() *ipam.Prefix
		old, edit func(*ipam.Prefix)
		want      []vt.FieldError
	}{
		{name: "labels only", base: rootPrefix, old: func(*ipam.Prefix) {}, edit: func(p *ipam.Prefix) { p.Labels = map[string]string{"a": "b"} }},
		// The allocator writes the CIDR of a child prefix once.
		{name: "allocator fills child cidr", base: childPrefix, old: func(*ipam.Prefix) {}, edit: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.7.0/24" }},
		{name: "cidr fixed once set", base: childPrefix, old: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.7.0/24" },
			edit: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.8.0/24" }, want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "cidr cannot be cleared", base: childPrefix, old: func(p *ipam.Prefix) { p.Spec.Prefix = "10.0.7.0/24" },
			edit: func(p *ipam.Prefix) { p.Spec.Prefix = "" }, want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "root cidr fixed", base: rootPrefix, old: func(*ipam.Prefix) {},
			edit: func(p *ipam.Prefix) { p.Spec.Prefix = "10.1.0.0/16" }, want: []vt.FieldError{vt.Invalid("spec.prefix")}},
		{name: "family is immutable", base: childPrefix, old: func(*ipam.Prefix) {},
			edit: func(p *ipam.Prefix) { p.Spec.IPFamily = corev1.IPv6Protocol }, want: []vt.FieldError{vt.Invalid("spec.ipFamily")}},
		{name: "parent is immutable", base: childPrefix, old: func(*ipam.Prefix) {},
			edit: func(p *ipam.Prefix) { p.Spec.ParentRef.Name = "other" }, want: []vt.FieldError{vt.Invalid("spec.parentRef")}},
		{name: "length is immutable", base: childPrefix, old: func(*ipam.Prefix) {},
			edit: func(p *ipam.Prefix) { p.Spec.PrefixLength = 25 }, want: []vt.FieldError{vt.Invalid("spec.prefixLength")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPrefix := tt.base()
			tt.old(oldPrefix)
			newPrefix := oldPrefix.DeepCopy()
			tt.edit(newPrefix)
			vt.Expect(t, ValidatePrefixUpdate(newPrefix, oldPrefix), tt.want...)
		})
	}
}

func TestValidatePrefixStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status ipam.PrefixStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "allocated", status: ipam.PrefixStatus{
			Phase: ipam.PrefixPhaseAllocated, Used: []string{"10.0.1.0/24", "10.0.2.0/24"},
			Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Allocated", LastTransitionTime: metav1.Unix(1, 0)}},
		}},
		{name: "unknown phase", status: ipam.PrefixStatus{Phase: "Reserved"},
			want: []vt.FieldError{vt.NotSupported("status.phase")}},
		{name: "used with host bits", status: ipam.PrefixStatus{Used: []string{"10.0.1.0/24", "10.0.2.1/24"}},
			want: []vt.FieldError{vt.Invalid("status.used[1]")}},
		{name: "used empty", status: ipam.PrefixStatus{Used: []string{""}},
			want: []vt.FieldError{vt.Required("status.used[0]")}},
		{name: "bad condition", status: ipam.PrefixStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Allocated"}}},
			want: []vt.FieldError{vt.Required("status.conditions[0].lastTransitionTime")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := rootPrefix()
			prefix.Status = tt.status
			vt.Expect(t, ValidatePrefixStatusUpdate(prefix, rootPrefix()), tt.want...)
		})
	}
}
