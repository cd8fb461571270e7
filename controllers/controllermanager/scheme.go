// Package controllermanager assembles ferrite-controller-manager: the scheme of the served
// Ferrite groups, the controller-runtime manager with metrics, health probes and optional leader
// election, the event recorder suited to the cluster, and every controller.
package controllermanager

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// NewScheme returns a scheme with the v1alpha1 types of every Ferrite group.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(computev1alpha1.AddToScheme(scheme))
	utilruntime.Must(storagev1alpha1.AddToScheme(scheme))
	utilruntime.Must(networkingv1alpha1.AddToScheme(scheme))
	utilruntime.Must(ipamv1alpha1.AddToScheme(scheme))
	utilruntime.Must(corev1alpha1.AddToScheme(scheme))
	return scheme
}
