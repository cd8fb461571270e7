package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateResourceList checks that every resource name is a qualified name and every quantity is
// not negative, and that each name in required is present with a positive quantity.
func ValidateResourceList(list corev1.ResourceList, required []corev1.ResourceName, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, quantity := range list {
		keyPath := path.Key(string(name))
		for _, msg := range validation.IsQualifiedName(string(name)) {
			errs = append(errs, field.Invalid(keyPath, string(name), msg))
		}
		errs = append(errs, ValidateNonNegativeQuantity(quantity, keyPath)...)
	}
	for _, name := range required {
		quantity, ok := list[name]
		if !ok {
			errs = append(errs, field.Required(path.Key(string(name)), ""))
			continue
		}
		if quantity.Sign() == 0 {
			errs = append(errs, field.Invalid(path.Key(string(name)), quantity.String(), "must be greater than zero"))
		}
	}
	return errs
}

// ValidateNonNegativeQuantity checks that a quantity is zero or more.
func ValidateNonNegativeQuantity(quantity resource.Quantity, path *field.Path) field.ErrorList {
	if quantity.Sign() < 0 {
		return field.ErrorList{field.Invalid(path, quantity.String(), "must be greater than or equal to 0")}
	}
	return nil
}

// ValidatePositiveQuantity checks that a quantity is more than zero.
func ValidatePositiveQuantity(quantity resource.Quantity, path *field.Path) field.ErrorList {
	if quantity.Sign() <= 0 {
		return field.ErrorList{field.Invalid(path, quantity.String(), "must be greater than zero")}
	}
	return nil
}
