// Package controllermanager assembles ferrite-controller-manager: the scheme of the served
// Ferrite groups, the controller-runtime manager with metrics, health probes and optional leader
// election, the event recorder suited to the cluster, and every controller.
package controllermanager

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// registerProtobufOnce tells controller-runtime that the Ferrite types speak protobuf, which the
// apiserver serves: it is several times cheaper to encode and decode than JSON, and the schedulers'
// pool ledgers are written and watched once per placement.
var registerProtobufOnce sync.Once

func registerProtobuf() {
	registerProtobufOnce.Do(func() {
		for _, add := range []func(*runtime.Scheme) error{
			computev1alpha1.AddToScheme, storagev1alpha1.AddToScheme, networkingv1alpha1.AddToScheme,
			ipamv1alpha1.AddToScheme, corev1alpha1.AddToScheme,
		} {
			utilruntime.Must(apiutil.AddToProtobufScheme(add))
		}
	})
}

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
