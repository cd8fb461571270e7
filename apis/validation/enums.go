package validation

import "k8s.io/apimachinery/pkg/util/validation/field"

// ValidateEnum checks that value is one of allowed. An empty value is an error only if required.
func ValidateEnum[T ~string](value T, allowed []T, required bool, path *field.Path) field.ErrorList {
	if value == "" {
		if required {
			return field.ErrorList{field.Required(path, "")}
		}
		return nil
	}
	for _, candidate := range allowed {
		if candidate == value {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(path, value, allowed)}
}
