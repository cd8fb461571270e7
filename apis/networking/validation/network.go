// Package validation checks networking.ferrite.dev objects; every error names its field.
package validation

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/networking"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var (
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
	families   = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
)

// MaxVNI is the largest VXLAN network identifier (24 bits).
const MaxVNI = 1<<24 - 1

// ValidateNetwork checks a new Network.
func ValidateNetwork(network *networking.Network) field.ErrorList {
	var errs field.ErrorList
	names := make([]string, 0, len(network.Spec.Peerings))
	for i, peering := range network.Spec.Peerings {
		p := specPath.Child("peerings").Index(i)
		names = append(names, peering.Name)
		errs = append(errs, apivalidation.ValidateDNSLabel(peering.Name, p.Child("name"))...)
		errs = append(errs, apivalidation.ValidateObjectName(peering.NetworkRef.Name, p.Child("networkRef", "name"))...)
		if ns := peering.NetworkRef.Namespace; ns != "" {
			errs = append(errs, apivalidation.ValidateDNSLabel(ns, p.Child("networkRef", "namespace"))...)
		}
		if peering.NetworkRef.Name == network.Name && (peering.NetworkRef.Namespace == "" || peering.NetworkRef.Namespace == network.Namespace) {
			errs = append(errs, field.Invalid(p.Child("networkRef"), peering.NetworkRef.Name, "a network cannot peer with itself"))
		}
	}
	return append(errs, apivalidation.ValidateUniqueNames(names, specPath.Child("peerings"))...)
}

// ValidateNetworkUpdate checks an update of a Network.
func ValidateNetworkUpdate(newNetwork, _ *networking.Network) field.ErrorList {
	return ValidateNetwork(newNetwork)
}

var networkStates = []networking.NetworkState{networking.NetworkStatePending, networking.NetworkStateAvailable}

// ValidateNetworkStatusUpdate checks a status update: the VNI the apiserver allocated is fixed.
func ValidateNetworkStatusUpdate(newNetwork, oldNetwork *networking.Network) field.ErrorList {
	errs := apimachineryvalidation.ValidateImmutableField(newNetwork.Status.VNI, oldNetwork.Status.VNI, statusPath.Child("vni"))
	return append(errs, apivalidation.ValidateEnum(newNetwork.Status.State, networkStates, false, statusPath.Child("state"))...)
}

// ValidateNetworkInterface checks a new NetworkInterface.
func ValidateNetworkInterface(nic *networking.NetworkInterface) field.ErrorList {
	spec := &nic.Spec
	errs := apivalidation.ValidateLocalRef(spec.NetworkRef, specPath.Child("networkRef"))
	// spec.machineRef is written only by the claim subresource (registry/kind).
	errs = append(errs, validateFamilies(spec.IPFamilies, specPath.Child("ipFamilies"))...)
	if len(spec.IPs) > len(spec.IPFamilies) {
		errs = append(errs, field.TooMany(specPath.Child("ips"), len(spec.IPs), len(spec.IPFamilies)))
	}
	valueFamilies := map[corev1.IPFamily]bool{}
	for i, ip := range spec.IPs {
		p := specPath.Child("ips").Index(i)
		switch {
		case ip.Value != "" && ip.PrefixRef != nil:
			errs = append(errs, field.Invalid(p, ip.Value, "must set exactly one of value or prefixRef"))
		case ip.Value != "":
			ipErrs := apivalidation.ValidateIP(ip.Value, p.Child("value"))
			errs = append(errs, ipErrs...)
			if len(ipErrs) > 0 {
				break
			}
			// One address per family, of a family the interface has.
			family := apivalidation.FamilyOf(netip.MustParseAddr(ip.Value))
			if !slices.Contains(spec.IPFamilies, family) {
				errs = append(errs, field.Invalid(p.Child("value"), ip.Value, "must be of one of spec.ipFamilies"))
			} else if valueFamilies[family] {
				errs = append(errs, field.Invalid(p.Child("value"), ip.Value, "only one address per family; another "+string(family)+" address is already given"))
			}
			valueFamilies[family] = true
		case ip.PrefixRef != nil:
			errs = append(errs, apivalidation.ValidateLocalRef(*ip.PrefixRef, p.Child("prefixRef"))...)
		default:
			errs = append(errs, field.Required(p, "one of value or prefixRef"))
		}
	}
	errs = append(errs, apivalidation.ValidateOptionalLocalRef(spec.VirtualIPRef, specPath.Child("virtualIPRef"))...)
	for i, prefix := range spec.Prefixes {
		errs = append(errs, apivalidation.ValidateCIDR(prefix, specPath.Child("prefixes").Index(i))...)
	}
	return errs
}

func validateFamilies(list []corev1.IPFamily, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(list) == 0 {
		return field.ErrorList{field.Required(path, "")}
	}
	if len(list) > 2 {
		errs = append(errs, field.TooMany(path, len(list), 2))
	}
	seen := map[corev1.IPFamily]bool{}
	for i, family := range list {
		errs = append(errs, apivalidation.ValidateEnum(family, families, true, path.Index(i))...)
		if seen[family] {
			errs = append(errs, field.Duplicate(path.Index(i), family))
		}
		seen[family] = true
	}
	return errs
}

// ValidateNetworkInterfaceUpdate keeps the network and families fixed.
func ValidateNetworkInterfaceUpdate(newNIC, oldNIC *networking.NetworkInterface) field.ErrorList {
	errs := ValidateNetworkInterface(newNIC)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newNIC.Spec.NetworkRef, oldNIC.Spec.NetworkRef, specPath.Child("networkRef"))...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newNIC.Spec.IPFamilies, oldNIC.Spec.IPFamilies, specPath.Child("ipFamilies"))...)
}

var nicStates = []networking.NetworkInterfaceState{networking.NetworkInterfaceStatePending, networking.NetworkInterfaceStateAvailable, networking.NetworkInterfaceStateError}

// ValidateNetworkInterfaceStatusUpdate checks a status update.
func ValidateNetworkInterfaceStatusUpdate(newNIC, _ *networking.NetworkInterface) field.ErrorList {
	status := &newNIC.Status
	errs := apivalidation.ValidateEnum(status.State, nicStates, false, statusPath.Child("state"))
	for i, ip := range status.IPs {
		errs = append(errs, apivalidation.ValidateIP(ip, statusPath.Child("ips").Index(i))...)
	}
	if status.VirtualIP != "" {
		errs = append(errs, apivalidation.ValidateIP(status.VirtualIP, statusPath.Child("virtualIP"))...)
	}
	for i, prefix := range status.Prefixes {
		errs = append(errs, apivalidation.ValidateCIDR(prefix, statusPath.Child("prefixes").Index(i))...)
	}
	if ref := status.MachinePoolRef; ref != nil {
		errs = append(errs, apivalidation.ValidateObjectName(ref.Name, statusPath.Child("machinePoolRef", "name"))...)
	}
	if nat := status.NAT; nat != nil {
		errs = append(errs, validateNATAssignment(nat, statusPath.Child("nat"))...)
	}
	return errs
}

// validateNATAssignment checks an interface's share of a NAT gateway: a named gateway, an
// address, and a port range starting on a multiple of 64 (routes carry PortMin/64).
func validateNATAssignment(nat *networking.NATAssignment, path *field.Path) field.ErrorList {
	errs := apivalidation.ValidateObjectName(nat.NATGatewayRef.Name, path.Child("natGatewayRef", "name"))
	errs = append(errs, apivalidation.ValidateIP(nat.IP, path.Child("ip"))...)
	switch {
	case nat.PortMin < 0 || nat.PortMin > 65535 || nat.PortMin%64 != 0:
		errs = append(errs, field.Invalid(path.Child("portMin"), nat.PortMin, "must be a multiple of 64 from 0 to 65472"))
	case nat.PortMax < nat.PortMin || nat.PortMax > 65535:
		errs = append(errs, field.Invalid(path.Child("portMax"), nat.PortMax, "must be from portMin to 65535"))
	}
	return errs
}
