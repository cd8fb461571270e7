package validation

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/networking"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var (
	protocols   = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	policyTypes = []networking.PolicyType{networking.PolicyTypeIngress, networking.PolicyTypeEgress}
)

func validatePort(port networking.LoadBalancerPort, path *field.Path) field.ErrorList {
	errs := apivalidation.ValidateEnum(port.Protocol, protocols, true, path.Child("protocol"))
	return append(errs, apivalidation.ValidatePortRange(port.Port, port.EndPort, path)...)
}

// ValidateNetworkPolicy checks a new NetworkPolicy.
func ValidateNetworkPolicy(policy *networking.NetworkPolicy) field.ErrorList {
	spec := &policy.Spec
	errs := apivalidation.ValidateLocalRef(spec.NetworkRef, specPath.Child("networkRef"))
	errs = append(errs, metav1validation.ValidateLabelSelector(&spec.NetworkInterfaceSelector, metav1validation.LabelSelectorValidationOptions{}, specPath.Child("networkInterfaceSelector"))...)
	for i, policyType := range spec.PolicyTypes {
		errs = append(errs, apivalidation.ValidateEnum(policyType, policyTypes, true, specPath.Child("policyTypes").Index(i))...)
	}
	for i, rule := range spec.Ingress {
		errs = append(errs, validateRule(rule, specPath.Child("ingress").Index(i))...)
	}
	for i, rule := range spec.Egress {
		errs = append(errs, validateRule(rule, specPath.Child("egress").Index(i))...)
	}
	return errs
}

func validateRule(rule networking.NetworkPolicyRule, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range rule.Peers {
		p := path.Child("peers").Index(i)
		if (peer.IPBlock == nil) == (peer.NetworkInterfaceSelector == nil) {
			errs = append(errs, field.Invalid(p, "", "must set exactly one of ipBlock or networkInterfaceSelector"))
			continue
		}
		if block := peer.IPBlock; block != nil {
			errs = append(errs, validateIPBlock(block, p.Child("ipBlock"))...)
		} else {
			errs = append(errs, metav1validation.ValidateLabelSelector(peer.NetworkInterfaceSelector, metav1validation.LabelSelectorValidationOptions{}, p.Child("networkInterfaceSelector"))...)
		}
	}
	for i, port := range rule.Ports {
		errs = append(errs, validatePort(port, path.Child("ports").Index(i))...)
	}
	return errs
}

func validateIPBlock(block *networking.IPBlock, path *field.Path) field.ErrorList {
	if block.CIDR == "" {
		return field.ErrorList{field.Required(path.Child("cidr"), "")}
	}
	outer, err := apivalidation.ParseCIDR(block.CIDR)
	if err != nil {
		return field.ErrorList{field.Invalid(path.Child("cidr"), block.CIDR, err.Error())}
	}
	var errs field.ErrorList
	for i, except := range block.Except {
		p := path.Child("except").Index(i)
		inner, err := apivalidation.ParseCIDR(except)
		if err != nil {
			errs = append(errs, field.Invalid(p, except, err.Error()))
			continue
		}
		if inner.Bits() < outer.Bits() || !outer.Contains(inner.Addr()) {
			errs = append(errs, field.Invalid(p, except, "must be inside cidr "+block.CIDR))
		}
	}
	return errs
}

// ValidateNetworkPolicyUpdate keeps the network fixed.
func ValidateNetworkPolicyUpdate(newPolicy, oldPolicy *networking.NetworkPolicy) field.ErrorList {
	errs := ValidateNetworkPolicy(newPolicy)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newPolicy.Spec.NetworkRef, oldPolicy.Spec.NetworkRef, specPath.Child("networkRef"))...)
}
