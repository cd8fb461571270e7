// Package install registers the core.ferrite.dev group, all its versions and their priority.
package install

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/ferrite-dev/ferrite/apis/core"
	"github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
)

// Install registers the internal and served versions of the group into scheme.
func Install(scheme *runtime.Scheme) {
	utilruntime.Must(core.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(v1alpha1.SchemeGroupVersion))
}
