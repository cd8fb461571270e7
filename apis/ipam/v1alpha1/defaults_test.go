package v1alpha1_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/apis/ipam"
	"github.com/ferrite-dev/ferrite/apis/ipam/install"
	"github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/ipam/validation"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

func TestPrefixDefaults(t *testing.T) {
	scheme := newScheme(t)
	tests := []struct {
		name string
		spec v1alpha1.PrefixSpec
		want corev1.IPFamily
	}{
		{name: "ipv4 prefix", spec: v1alpha1.PrefixSpec{Prefix: "10.0.0.0/16"}, want: corev1.IPv4Protocol},
		{name: "family derived from ipv6 prefix", spec: v1alpha1.PrefixSpec{Prefix: "2001:db8::/48"}, want: corev1.IPv6Protocol},
		// Host bits are validation's business; the family is still plain to see.
		{name: "ipv6 prefix with host bits", spec: v1alpha1.PrefixSpec{Prefix: "2001:db8::1/48"}, want: corev1.IPv6Protocol},
		{name: "child by length", spec: v1alpha1.PrefixSpec{PrefixLength: 24, ParentRef: &corev1.LocalObjectReference{Name: "root"}}, want: corev1.IPv4Protocol},
		{name: "garbage prefix", spec: v1alpha1.PrefixSpec{Prefix: "not-a-prefix"}, want: corev1.IPv4Protocol},
		{name: "explicit family kept", spec: v1alpha1.PrefixSpec{IPFamily: corev1.IPv6Protocol, PrefixLength: 64}, want: corev1.IPv6Protocol},
		// An explicit family is not overridden, so validation can report the mismatch.
		{name: "explicit family kept against prefix", spec: v1alpha1.PrefixSpec{IPFamily: corev1.IPv4Protocol, Prefix: "2001:db8::/48"}, want: corev1.IPv4Protocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := &v1alpha1.Prefix{Spec: tt.spec}
			scheme.Default(prefix)
			if prefix.Spec.IPFamily != tt.want {
				t.Errorf("ipFamily = %q, want %q", prefix.Spec.IPFamily, tt.want)
			}
		})
	}
}

func TestDefaultedPrefixIsValid(t *testing.T) {
	scheme := newScheme(t)
	for _, spec := range []v1alpha1.PrefixSpec{
		{Prefix: "2001:db8::/48"},
		{PrefixLength: 24, ParentRef: &corev1.LocalObjectReference{Name: "root"}},
	} {
		prefix := &v1alpha1.Prefix{Spec: spec}
		scheme.Default(prefix)
		internal := &ipam.Prefix{}
		if err := scheme.Convert(prefix, internal, nil); err != nil {
			t.Fatal(err)
		}
		if errs := validation.ValidatePrefix(internal); len(errs) > 0 {
			t.Errorf("defaulted prefix %+v is invalid: %v", spec, errs.ToAggregate())
		}
	}
}
