package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

// addFieldLabels lists the fields that list and watch requests can select on.
func addFieldLabels(scheme *runtime.Scheme) error {
	return apivalidation.AddFieldLabels(scheme, SchemeGroupVersion, map[string][]string{
		"ResourceQuota": nil,
	})
}
