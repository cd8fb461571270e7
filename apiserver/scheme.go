// Package apiserver assembles ferrite-apiserver: the scheme of all Ferrite groups, the REST
// storage of every kind, OpenAPI, and the generic apiserver configuration.
package apiserver

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	computeinstall "github.com/ferrite-dev/ferrite/apis/compute/install"
	coreinstall "github.com/ferrite-dev/ferrite/apis/core/install"
	ipaminstall "github.com/ferrite-dev/ferrite/apis/ipam/install"
	networkinginstall "github.com/ferrite-dev/ferrite/apis/networking/install"
	storageinstall "github.com/ferrite-dev/ferrite/apis/storage/install"
)

var (
	// Scheme holds the internal and served versions of every Ferrite group.
	Scheme = runtime.NewScheme()
	// Codecs encodes and decodes Ferrite objects in every supported media type.
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	computeinstall.Install(Scheme)
	storageinstall.Install(Scheme)
	networkinginstall.Install(Scheme)
	ipaminstall.Install(Scheme)
	coreinstall.Install(Scheme)

	// The generic server decodes options such as ListOptions and WatchEvent in the unversioned
	// group; register them as every Kubernetes-style server does.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Group: "", Version: "v1"}
	Scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}
