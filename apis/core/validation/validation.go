// Package validation checks core.ferrite.dev objects; every error names its field.
package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/core"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

// Suffixes of per-class quota names: "<class>.machineclass.compute.ferrite.dev/machines" counts
// machines of a class, "<class>.volumeclass.storage.ferrite.dev/storage" sums their storage.
const (
	MachineClassQuotaSuffix = ".machineclass.compute.ferrite.dev/machines"
	VolumeClassQuotaSuffix  = ".volumeclass.storage.ferrite.dev/storage"
	// CountQuotaPrefix limits the number of objects: "count/machines.compute.ferrite.dev".
	CountQuotaPrefix = "count/"
)

var plainQuotaNames = map[corev1.ResourceName]bool{
	core.ResourceRequestsCPU: true, core.ResourceRequestsMemory: true, core.ResourceRequestsStorage: true,
}

// ValidateResourceQuota checks a new ResourceQuota: known resource names, no negative limits.
func ValidateResourceQuota(quota *core.ResourceQuota) field.ErrorList {
	path := field.NewPath("spec", "hard")
	errs := apivalidation.ValidateResourceList(quota.Spec.Hard, nil, path)
	for name := range quota.Spec.Hard {
		if !knownQuotaName(name) {
			errs = append(errs, field.Invalid(path.Key(string(name)), string(name),
				"must be requests.cpu, requests.memory, requests.storage, count/<resource>.<group>, <class>"+MachineClassQuotaSuffix+" or <class>"+VolumeClassQuotaSuffix))
		}
	}
	return errs
}

func knownQuotaName(name corev1.ResourceName) bool {
	s := string(name)
	switch {
	case plainQuotaNames[name]:
		return true
	case strings.HasPrefix(s, CountQuotaPrefix):
		resource, group, ok := strings.Cut(strings.TrimPrefix(s, CountQuotaPrefix), ".")
		return ok && resource != "" && strings.HasSuffix(group, ".ferrite.dev")
	case strings.HasSuffix(s, MachineClassQuotaSuffix):
		return validClassName(strings.TrimSuffix(s, MachineClassQuotaSuffix))
	case strings.HasSuffix(s, VolumeClassQuotaSuffix):
		return validClassName(strings.TrimSuffix(s, VolumeClassQuotaSuffix))
	}
	return false
}

func validClassName(name string) bool {
	return name != "" && len(apimachineryvalidation.NameIsDNSSubdomain(name, false)) == 0
}

// ValidateResourceQuotaUpdate checks an update of a ResourceQuota.
func ValidateResourceQuotaUpdate(newQuota, _ *core.ResourceQuota) field.ErrorList {
	return ValidateResourceQuota(newQuota)
}

// ValidateResourceQuotaStatusUpdate checks that recorded use is not negative.
func ValidateResourceQuotaStatusUpdate(newQuota, _ *core.ResourceQuota) field.ErrorList {
	errs := apivalidation.ValidateResourceList(newQuota.Status.Hard, nil, field.NewPath("status", "hard"))
	return append(errs, apivalidation.ValidateResourceList(newQuota.Status.Used, nil, field.NewPath("status", "used"))...)
}
