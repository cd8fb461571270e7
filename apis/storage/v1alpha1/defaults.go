package v1alpha1

import "k8s.io/apimachinery/pkg/runtime"

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_VolumeClass makes volume sizes fixed unless the class says otherwise.
func SetDefaults_VolumeClass(class *VolumeClass) {
	if class.ResizePolicy == "" {
		class.ResizePolicy = ResizePolicyStatic
	}
}
