package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
)

// addFieldLabels lists the fields that list and watch requests can select on.
func addFieldLabels(scheme *runtime.Scheme) error {
	return apivalidation.AddFieldLabels(scheme, SchemeGroupVersion, map[string][]string{
		"Network":          nil,
		"NetworkInterface": {"spec.networkRef.name", "spec.machineRef.name", "status.machinePoolRef.name"},
		"VirtualIP":        {"spec.targetRef.name"},
		"NATGateway":       {"spec.networkRef.name"},
		"LoadBalancer":     {"spec.networkRef.name"},
		"NetworkPolicy":    {"spec.networkRef.name"},
	})
}
