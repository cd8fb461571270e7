// Package templates renders a Machine's ephemeral templates (spec.volumes[].ephemeral,
// spec.networkInterfaces[].ephemeral) into the Volume and NetworkInterface objects they
// become. The controller manager creates exactly these objects, and Machine validation checks
// them, defaulted and converted as the apiserver will store them, with the real Volume and
// NetworkInterface validation: a template that is accepted renders to an object that is too.
package templates

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkinginstall "github.com/ferrite-dev/ferrite/apis/networking/install"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storageinstall "github.com/ferrite-dev/ferrite/apis/storage/install"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// VolumeName is the name of the Volume created for a machine's ephemeral volume entry. It is
// derived, not random, so that a poollet finds the volume without a lookup and a retried
// create never makes a second one.
func VolumeName(machine, entry string) string { return machine + "-" + entry }

// NetworkInterfaceName is the name of the NetworkInterface created for a machine's ephemeral
// network interface entry.
func NetworkInterfaceName(machine, entry string) string { return machine + "-" + entry }

// OwnerReference is the controller owner reference of an ephemeral object to its machine. Only
// the owner may claim an object it controls, so no other machine can attach it.
func OwnerReference(machine *computev1alpha1.Machine) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion: computev1alpha1.SchemeGroupVersion.String(), Kind: "Machine",
		Name: machine.Name, UID: machine.UID, Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// Volume is the Volume for a machine's ephemeral volume entry. Its claim is not part of it:
// claims are written through the claim subresource.
func Volume(machine *computev1alpha1.Machine, entry string, source *computev1alpha1.EphemeralVolumeSource) *storagev1alpha1.Volume {
	return &storagev1alpha1.Volume{
		TypeMeta: metav1.TypeMeta{APIVersion: storagev1alpha1.SchemeGroupVersion.String(), Kind: "Volume"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: machine.Namespace, Name: VolumeName(machine.Name, entry),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(machine)},
		},
		Spec: storagev1alpha1.VolumeSpec{
			VolumeClassRef: source.VolumeClassRef,
			Resources:      source.Resources.DeepCopy(),
			Image:          source.Image,
		},
	}
}

// NetworkInterface is the NetworkInterface for a machine's ephemeral network interface entry.
// Fixed addresses are kept; without any, IPAM allocates one from the network's prefix. Its
// claim (spec.machineRef) is not part of it: claims are written through the claim subresource.
func NetworkInterface(machine *computev1alpha1.Machine, entry string, source *computev1alpha1.EphemeralNetworkInterfaceSource) *networkingv1alpha1.NetworkInterface {
	nic := &networkingv1alpha1.NetworkInterface{
		TypeMeta: metav1.TypeMeta{APIVersion: networkingv1alpha1.SchemeGroupVersion.String(), Kind: "NetworkInterface"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: machine.Namespace, Name: NetworkInterfaceName(machine.Name, entry),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(machine)},
		},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{
			NetworkRef:   source.NetworkRef,
			VirtualIPRef: source.VirtualIPRef,
		},
	}
	for _, ip := range source.IPs {
		nic.Spec.IPs = append(nic.Spec.IPs, networkingv1alpha1.IPSource{Value: ip})
	}
	return nic
}

// scheme knows the storage and networking groups, internal and served, with their defaults.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	storageinstall.Install(s)
	networkinginstall.Install(s)
	return s
}()

// AsStored returns obj (a Volume or NetworkInterface from this package) as the apiserver
// would store it: defaulted, and converted to the internal version that validation checks.
func AsStored(obj runtime.Object) (runtime.Object, error) {
	obj = obj.DeepCopyObject()
	scheme.Default(obj)
	return scheme.UnsafeConvertToVersion(obj, runtime.InternalGroupVersioner)
}
