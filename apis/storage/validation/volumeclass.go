package validation

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/storage"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

var (
	resizePolicies    = []storage.ResizePolicy{storage.ResizePolicyStatic, storage.ResizePolicyExpandOnly}
	encryptionFormats = []storage.EncryptionFormat{storage.EncryptionFormatLUKS2}
)

// ValidateVolumeClass checks a new VolumeClass: its name fits as a key of pool allocatable,
// iops and tps are required and positive, and the resize policy is known.
func ValidateVolumeClass(class *storage.VolumeClass) field.ErrorList {
	errs := apivalidation.ValidateClassName(class.Name, field.NewPath("metadata", "name"))
	return append(errs, validateVolumeClassFields(class)...)
}

func validateVolumeClassFields(class *storage.VolumeClass) field.ErrorList {
	errs := apivalidation.ValidateResourceList(class.Capabilities, []corev1.ResourceName{ResourceIOPS, ResourceTPS}, field.NewPath("capabilities"))
	errs = append(errs, apivalidation.ValidateEnum(class.ResizePolicy, resizePolicies, true, field.NewPath("resizePolicy"))...)
	if class.Encryption != nil {
		errs = append(errs, apivalidation.ValidateEnum(class.Encryption.Format, encryptionFormats, true, field.NewPath("encryption", "format"))...)
	}
	return errs
}

// ValidateVolumeClassUpdate keeps capabilities and encryption fixed (volumes already made under
// the class keep what they were made with); the resize policy may change. The name is
// not checked again (it cannot change, and a class stored before the name rule must stay
// updatable).
func ValidateVolumeClassUpdate(newClass, oldClass *storage.VolumeClass) field.ErrorList {
	errs := validateVolumeClassFields(newClass)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(newClass.Capabilities, oldClass.Capabilities, field.NewPath("capabilities"))...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(newClass.Encryption, oldClass.Encryption, field.NewPath("encryption"))...)
}
