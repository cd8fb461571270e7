package validation

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateIP checks a required IP address in canonical form.
func ValidateIP(value string, path *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	addr, err := netip.ParseAddr(value)
	if err != nil || addr.Zone() != "" {
		return field.ErrorList{field.Invalid(path, value, "must be a valid IP address, for example 10.0.0.1 or 2001:db8::1")}
	}
	if addr.Is4In6() {
		// ::ffff:10.0.0.1 is an IPv4 address spelled as IPv6; it would count as the wrong family.
		return field.ErrorList{field.Invalid(path, value, fmt.Sprintf("must not be an IPv4-mapped IPv6 address; use %q", addr.Unmap().String()))}
	}
	if addr.String() != value {
		return field.ErrorList{field.Invalid(path, value, fmt.Sprintf("must be in canonical form %q", addr.String()))}
	}
	return nil
}

// ParseCIDR parses a CIDR that must name a network (no host bits set), so that a prefix has one
// spelling and overlaps are easy to check.
func ParseCIDR(value string) (netip.Prefix, error) {
	prefix, err := netip.ParsePrefix(value)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be a valid CIDR, for example 10.0.0.0/16 or 2001:db8::/64")
	}
	if prefix.Masked() != prefix {
		return netip.Prefix{}, fmt.Errorf("must be a network address without host bits, for example %s", prefix.Masked())
	}
	// Without this, 2001:DB8::/32 and 2001:db8::/32 would be two spellings of one prefix.
	if prefix.String() != value {
		return netip.Prefix{}, fmt.Errorf("must be in canonical form %q", prefix.String())
	}
	return prefix, nil
}

// ValidateCIDR checks a required CIDR.
func ValidateCIDR(value string, path *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	if _, err := ParseCIDR(value); err != nil {
		return field.ErrorList{field.Invalid(path, value, err.Error())}
	}
	return nil
}

// ValidateIPFamily checks that a family is IPv4 or IPv6.
func ValidateIPFamily(family corev1.IPFamily, path *field.Path) field.ErrorList {
	switch family {
	case corev1.IPv4Protocol, corev1.IPv6Protocol:
		return nil
	case "":
		return field.ErrorList{field.Required(path, "")}
	default:
		return field.ErrorList{field.NotSupported(path, family, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol})}
	}
}

// FamilyOf returns the IP family of an address.
func FamilyOf(addr netip.Addr) corev1.IPFamily {
	if addr.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// ValidatePortRange checks a port (1 to 65535) and an optional end port not below it.
func ValidatePortRange(port int32, endPort *int32, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port < 1 || port > 65535 {
		errs = append(errs, field.Invalid(path.Child("port"), port, "must be between 1 and 65535"))
	}
	if endPort != nil && (*endPort < port || *endPort > 65535) {
		errs = append(errs, field.Invalid(path.Child("endPort"), *endPort, "must be between port and 65535"))
	}
	return errs
}
