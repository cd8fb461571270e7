package validation

import (
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateClassName checks the name of a new MachineClass or VolumeClass. A class name is a
// key of pool status.allocatable and status.capacity (a corev1.ResourceList), and those keys
// must be qualified names: for a name that is already a DNS subdomain, at most 63 characters.
// Only creates are checked, so that classes stored before the rule can still be updated (and
// their finalizers removed).
func ValidateClassName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		// Object metadata validation already requires a name.
		return nil
	}
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(name) {
		errs = append(errs, field.Invalid(path, name, "a class name is a key of pool status.allocatable, which must be a qualified name: "+msg))
	}
	return errs
}
