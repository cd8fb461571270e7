package validation

import (
	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var taintEffects = sets.New(corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)

// ValidateTaints checks the taints of a pool: qualified keys, label-like values, a known effect,
// and no two taints with the same key and effect.
func ValidateTaints(taints []corev1.Taint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, taint := range taints {
		p := path.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(taint.Key, p.Child("key"))...)
		for _, msg := range validation.IsValidLabelValue(taint.Value) {
			errs = append(errs, field.Invalid(p.Child("value"), taint.Value, msg))
		}
		if taint.Effect == "" {
			errs = append(errs, field.Required(p.Child("effect"), ""))
		} else if !taintEffects.Has(taint.Effect) {
			errs = append(errs, field.NotSupported(p.Child("effect"), taint.Effect, sets.List(taintEffects)))
		}
		id := taint.Key + "/" + string(taint.Effect)
		if seen.Has(id) {
			errs = append(errs, field.Duplicate(p, id))
		}
		seen.Insert(id)
	}
	return errs
}

// ValidateTolerations checks tolerations: an Exists operator takes no value, an empty key needs
// Exists, and the effect, if given, is known.
func ValidateTolerations(tolerations []corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, toleration := range tolerations {
		p := path.Index(i)
		if toleration.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(toleration.Key, p.Child("key"))...)
		}
		switch toleration.Operator {
		case corev1.TolerationOpExists:
			if toleration.Value != "" {
				errs = append(errs, field.Invalid(p.Child("value"), toleration.Value, "must be empty when operator is Exists"))
			}
		case corev1.TolerationOpEqual, "":
			if toleration.Key == "" {
				errs = append(errs, field.Invalid(p.Child("operator"), toleration.Operator, "must be Exists when key is empty"))
			}
			for _, msg := range validation.IsValidLabelValue(toleration.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), toleration.Value, msg))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), toleration.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		if toleration.Effect != "" && !taintEffects.Has(toleration.Effect) {
			errs = append(errs, field.NotSupported(p.Child("effect"), toleration.Effect, sets.List(taintEffects)))
		}
		if toleration.TolerationSeconds != nil && toleration.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("tolerationSeconds"), *toleration.TolerationSeconds, "only allowed with effect NoExecute"))
		}
	}
	return errs
}
