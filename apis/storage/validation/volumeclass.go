package validation

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/storage"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var resizePolicies = []storage.ResizePolicy{storage.ResizePolicyStatic, storage.ResizePolicyExpandOnly}

// ValidateVolumeClass checks a new VolumeClass: its name fits as a key of pool allocatable,
// iops and tps are required and positive, and the resize policy is known.
func ValidateVolumeClass(class *storage.VolumeClass) field.ErrorList {
	errs := apivalidation.ValidateClassName(class.Name, field.NewPath("metadata", "name"))
	return append(errs, validateVolumeClassFields(class)...)
}

func validateVolumeClassFields(class *storage.VolumeClass) field.ErrorList {
	errs := apivalidation.ValidateResourceList(class.Capabilities, []corev1.ResourceName{ResourceIOPS, ResourceTPS}, field.NewPath("capabilities"))
	return append(errs, apivalidation.ValidateEnum(class.ResizePolicy, resizePolicies, true, field.NewPath("resizePolicy"))...)
}

// ValidateVolumeClassUpdate keeps capabilities fixed; the resize policy may change. The name is
// not checked again (it cannot change, and a class stored before the name rule must stay
// updatable).
func ValidateVolumeClassUpdate(newClass, oldClass *storage.VolumeClass) field.ErrorList {
	errs := validateVolumeClassFields(newClass)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newClass.Capabilities, oldClass.Capabilities, field.NewPath("capabilities"))...)
}
