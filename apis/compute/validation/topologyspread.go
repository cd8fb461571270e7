package validation

import (
	"fmt"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/ferrite-dev/ferrite/apis/compute"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

// maxTopologySpreadConstraints bounds the constraints of one machine; each costs the scheduler
// a count over the namespace's machines.
const maxTopologySpreadConstraints = 4

var unsatisfiableActions = []compute.UnsatisfiableConstraintAction{compute.DoNotSchedule, compute.ScheduleAnyway}

// validateTopologySpread checks a machine's spread constraints: a positive skew, a label key,
// a known action, a valid selector, and one constraint per key and action.
func validateTopologySpread(constraints []compute.TopologySpreadConstraint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(constraints) > maxTopologySpreadConstraints {
		errs = append(errs, field.TooMany(path, len(constraints), maxTopologySpreadConstraints))
	}
	seen := map[string]bool{}
	for i, c := range constraints {
		p := path.Index(i)
		if c.MaxSkew < 1 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "must be at least 1"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "a pool label such as "+compute.TopologyZoneLabel))
		} else {
			for _, msg := range validation.IsQualifiedName(c.TopologyKey) {
				errs = append(errs, field.Invalid(p.Child("topologyKey"), c.TopologyKey, msg))
			}
		}
		errs = append(errs, apivalidation.ValidateEnum(c.WhenUnsatisfiable, unsatisfiableActions, true, p.Child("whenUnsatisfiable"))...)
		if c.LabelSelector != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(c.LabelSelector, metav1validation.LabelSelectorValidationOptions{}, p.Child("labelSelector"))...)
		}
		key := fmt.Sprintf("%s/%s", c.TopologyKey, c.WhenUnsatisfiable)
		if seen[key] {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("topologyKey %q with whenUnsatisfiable %q", c.TopologyKey, c.WhenUnsatisfiable)))
		}
		seen[key] = true
	}
	return errs
}
