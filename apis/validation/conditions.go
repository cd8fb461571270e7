package validation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateConditions checks status conditions with the rules of metav1.Condition (type, status,
// reason, message, unique types).
func ValidateConditions(conditions []metav1.Condition, path *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conditions, path)
}
