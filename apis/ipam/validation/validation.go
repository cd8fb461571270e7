// Package validation checks ipam.ferrite.dev objects; every error names its field.
package validation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/ipam"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var (
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
	families   = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
)

// ValidatePrefix checks a new Prefix: a root prefix states its CIDR; a child names its parent
// and either a CIDR or a prefix length that fits the family.
func ValidatePrefix(prefix *ipam.Prefix) field.ErrorList {
	spec := &prefix.Spec
	errs := apivalidation.ValidateEnum(spec.IPFamily, families, true, specPath.Child("ipFamily"))
	if spec.ParentRef == nil && spec.Prefix == "" {
		errs = append(errs, field.Required(specPath.Child("prefix"), "a root prefix (no parentRef) must state its CIDR"))
	}
	errs = append(errs, apivalidation.ValidateOptionalLocalRef(spec.ParentRef, specPath.Child("parentRef"))...)
	if spec.Prefix != "" {
		parsed, err := apivalidation.ParseCIDR(spec.Prefix)
		if err != nil {
			errs = append(errs, field.Invalid(specPath.Child("prefix"), spec.Prefix, err.Error()))
		} else if family := apivalidation.FamilyOf(parsed.Addr()); slices.Contains(families, spec.IPFamily) && family != spec.IPFamily {
			errs = append(errs, field.Invalid(specPath.Child("prefix"), spec.Prefix, "must be of spec.ipFamily "+string(spec.IPFamily)))
		}
		if spec.PrefixLength != 0 && err == nil && int32(parsed.Bits()) != spec.PrefixLength {
			errs = append(errs, field.Invalid(specPath.Child("prefixLength"), spec.PrefixLength, "must match the length of spec.prefix"))
		}
	}
	if spec.ParentRef != nil && spec.Prefix == "" && spec.PrefixLength == 0 {
		errs = append(errs, field.Required(specPath.Child("prefixLength"), "a child prefix needs spec.prefix or spec.prefixLength"))
	}
	maxBits := int32(32)
	if spec.IPFamily == corev1.IPv6Protocol {
		maxBits = 128
	}
	if spec.PrefixLength < 0 || spec.PrefixLength > maxBits {
		errs = append(errs, field.Invalid(specPath.Child("prefixLength"), spec.PrefixLength, "must be between 0 and the address length of the family"))
	}
	return errs
}

// ValidatePrefixUpdate keeps the family, parent and requested length fixed, and the CIDR once set
// (the allocator fills it in once for child prefixes).
func ValidatePrefixUpdate(newPrefix, oldPrefix *ipam.Prefix) field.ErrorList {
	errs := ValidatePrefix(newPrefix)
	newSpec, oldSpec := &newPrefix.Spec, &oldPrefix.Spec
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.IPFamily, oldSpec.IPFamily, specPath.Child("ipFamily"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.ParentRef, oldSpec.ParentRef, specPath.Child("parentRef"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.PrefixLength, oldSpec.PrefixLength, specPath.Child("prefixLength"))...)
	if oldSpec.Prefix != "" {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newSpec.Prefix, oldSpec.Prefix, specPath.Child("prefix"))...)
	}
	return errs
}

var phases = []ipam.PrefixPhase{ipam.PrefixPhasePending, ipam.PrefixPhaseAllocated, ipam.PrefixPhaseFailed}

// ValidatePrefixStatusUpdate checks the phase and that used ranges are CIDRs.
func ValidatePrefixStatusUpdate(newPrefix, _ *ipam.Prefix) field.ErrorList {
	status := &newPrefix.Status
	errs := apivalidation.ValidateEnum(status.Phase, phases, false, statusPath.Child("phase"))
	for i, used := range status.Used {
		errs = append(errs, apivalidation.ValidateCIDR(used, statusPath.Child("used").Index(i))...)
	}
	return append(errs, apivalidation.ValidateConditions(status.Conditions, statusPath.Child("conditions"))...)
}
