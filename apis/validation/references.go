package validation

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateObjectName checks a required reference to an object by name.
func ValidateObjectName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// ValidateLocalRef checks a required LocalObjectReference; path is the reference field.
func ValidateLocalRef(ref corev1.LocalObjectReference, path *field.Path) field.ErrorList {
	return ValidateObjectName(ref.Name, path.Child("name"))
}

// ValidateOptionalLocalRef checks a LocalObjectReference that may be nil.
func ValidateOptionalLocalRef(ref *corev1.LocalObjectReference, path *field.Path) field.ErrorList {
	if ref == nil {
		return nil
	}
	return ValidateLocalRef(*ref, path)
}

// ValidateDNSLabel checks a required name that must be a DNS label (names inside an object).
func ValidateDNSLabel(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	var errs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSLabel(name, false) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// ValidateSelectorMap checks a map used as an equality label selector.
func ValidateSelectorMap(selector map[string]string, path *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(selector, path)
}

// ValidateUniqueNames checks that the names of a list's items are distinct.
func ValidateUniqueNames(names []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if name != "" && seen[name] {
			errs = append(errs, field.Duplicate(path.Index(i).Child("name"), name))
		}
		seen[name] = true
	}
	return errs
}
