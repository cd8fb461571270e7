package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// AddFieldLabels registers, for each kind of a served version, the field selector labels the
// apiserver accepts besides metadata.name and metadata.namespace.
func AddFieldLabels(scheme *runtime.Scheme, version schema.GroupVersion, labelsByKind map[string][]string) error {
	for kindName, extra := range labelsByKind {
		allowed := map[string]bool{"metadata.name": true, "metadata.namespace": true}
		for _, label := range extra {
			allowed[label] = true
		}
		err := scheme.AddFieldLabelConversionFunc(version.WithKind(kindName), func(label, value string) (string, string, error) {
			if !allowed[label] {
				return "", "", fmt.Errorf("field label not supported for %s: %s", kindName, label)
			}
			return label, value, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
