package validation

import (
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/networking"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var publicTypes = []networking.VirtualIPType{networking.VirtualIPTypePublic}

// ValidateVirtualIP checks a new VirtualIP.
func ValidateVirtualIP(vip *networking.VirtualIP) field.ErrorList {
	errs := apivalidation.ValidateEnum(vip.Spec.Type, publicTypes, true, specPath.Child("type"))
	errs = append(errs, apivalidation.ValidateEnum(vip.Spec.IPFamily, families, true, specPath.Child("ipFamily"))...)
	if target := vip.Spec.TargetRef; target != nil {
		errs = append(errs, apivalidation.ValidateObjectName(target.Name, specPath.Child("targetRef", "name"))...)
	}
	return errs
}

// ValidateVirtualIPUpdate keeps type and family fixed.
func ValidateVirtualIPUpdate(newVIP, oldVIP *networking.VirtualIP) field.ErrorList {
	errs := ValidateVirtualIP(newVIP)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newVIP.Spec.Type, oldVIP.Spec.Type, specPath.Child("type"))...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newVIP.Spec.IPFamily, oldVIP.Spec.IPFamily, specPath.Child("ipFamily"))...)
}

// ValidateVirtualIPStatusUpdate checks the allocated address.
func ValidateVirtualIPStatusUpdate(newVIP, _ *networking.VirtualIP) field.ErrorList {
	if newVIP.Status.IP == "" {
		return nil
	}
	return apivalidation.ValidateIP(newVIP.Status.IP, statusPath.Child("ip"))
}

// ValidateNATGateway checks a new NATGateway.
func ValidateNATGateway(gateway *networking.NATGateway) field.ErrorList {
	spec := &gateway.Spec
	errs := apivalidation.ValidateEnum(spec.Type, publicTypes, true, specPath.Child("type"))
	errs = append(errs, apivalidation.ValidateEnum(spec.IPFamily, families, true, specPath.Child("ipFamily"))...)
	errs = append(errs, apivalidation.ValidateLocalRef(spec.NetworkRef, specPath.Child("networkRef"))...)
	ports := spec.PortsPerNetworkInterface
	if ports < 64 || ports > 65536 || ports&(ports-1) != 0 {
		errs = append(errs, field.Invalid(specPath.Child("portsPerNetworkInterface"), ports, "must be a power of two from 64 to 65536"))
	}
	return errs
}

// ValidateNATGatewayUpdate keeps type, family and network fixed.
func ValidateNATGatewayUpdate(newGateway, oldGateway *networking.NATGateway) field.ErrorList {
	errs := ValidateNATGateway(newGateway)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newGateway.Spec.Type, oldGateway.Spec.Type, specPath.Child("type"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newGateway.Spec.IPFamily, oldGateway.Spec.IPFamily, specPath.Child("ipFamily"))...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newGateway.Spec.NetworkRef, oldGateway.Spec.NetworkRef, specPath.Child("networkRef"))...)
}

// ValidateNATGatewayStatusUpdate checks the allocated addresses.
func ValidateNATGatewayStatusUpdate(newGateway, _ *networking.NATGateway) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range newGateway.Status.IPs {
		errs = append(errs, apivalidation.ValidateIP(ip, statusPath.Child("ips").Index(i))...)
	}
	if newGateway.Status.PortsUsed < 0 {
		errs = append(errs, field.Invalid(statusPath.Child("portsUsed"), newGateway.Status.PortsUsed, "must not be negative"))
	}
	return errs
}

var loadBalancerTypes = []networking.LoadBalancerType{networking.LoadBalancerTypePublic, networking.LoadBalancerTypeInternal}

// ValidateLoadBalancer checks a new LoadBalancer.
func ValidateLoadBalancer(lb *networking.LoadBalancer) field.ErrorList {
	spec := &lb.Spec
	errs := apivalidation.ValidateEnum(spec.Type, loadBalancerTypes, true, specPath.Child("type"))
	errs = append(errs, validateFamilies(spec.IPFamilies, specPath.Child("ipFamilies"))...)
	errs = append(errs, apivalidation.ValidateLocalRef(spec.NetworkRef, specPath.Child("networkRef"))...)
	if spec.NetworkInterfaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.NetworkInterfaceSelector, metav1validation.LabelSelectorValidationOptions{}, specPath.Child("networkInterfaceSelector"))...)
	}
	for i, port := range spec.Ports {
		errs = append(errs, validatePort(port, specPath.Child("ports").Index(i))...)
	}
	return errs
}

// ValidateLoadBalancerUpdate keeps type, families and network fixed.
func ValidateLoadBalancerUpdate(newLB, oldLB *networking.LoadBalancer) field.ErrorList {
	errs := ValidateLoadBalancer(newLB)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newLB.Spec.Type, oldLB.Spec.Type, specPath.Child("type"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newLB.Spec.IPFamilies, oldLB.Spec.IPFamilies, specPath.Child("ipFamilies"))...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newLB.Spec.NetworkRef, oldLB.Spec.NetworkRef, specPath.Child("networkRef"))...)
}

// ValidateLoadBalancerStatusUpdate checks the allocated addresses.
func ValidateLoadBalancerStatusUpdate(newLB, _ *networking.LoadBalancer) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range newLB.Status.IPs {
		errs = append(errs, apivalidation.ValidateIP(ip, statusPath.Child("ips").Index(i))...)
	}
	return errs
}
