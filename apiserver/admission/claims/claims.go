// Package claims is the admission plugin that refuses a Machine referencing a Volume or a
// NetworkInterface that another machine uses: one claimed by a machine of another name
// (spec.claimRef, spec.machineRef), or controlled by another machine (the ephemeral objects of
// that machine). Two machines attaching the same disk corrupt it.
//
// The plugin reads through informer listers, so it can miss a claim made a moment ago; the claim
// controller (controllers/claim), which claims through the claim subresource, stays the
// authority: a machine that got past admission in such a race is left without the claim and
// told so in its Claimed condition.
package claims

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"

	"github.com/ferrite-dev/ferrite/apis/compute"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	networkinglisters "github.com/ferrite-dev/ferrite/generated/listers/networking/v1alpha1"
	storagelisters "github.com/ferrite-dev/ferrite/generated/listers/storage/v1alpha1"
)

// PluginName is the name of the plugin in the admission chain.
const PluginName = "ferrite.dev/Claims"

// holder is who uses an object: the machine named in its claim and the machine controlling it
// (empty when none).
type holder struct {
	claimedBy, ownedBy string
}

// lookup returns the holder of the named object; found is false when it does not exist.
type lookup func(ctx context.Context, namespace, name string) (h holder, found bool, err error)

// Plugin checks the volume and network interface references of Machines.
type Plugin struct {
	*admission.Handler
	volumes, networkInterfaces lookup
}

var _ admission.ValidationInterface = &Plugin{}

// New returns the plugin. The listers answer once their synced function reports true; before
// that (just after the apiserver starts) the plugin reads through client, the server's loopback
// client.
func New(client versioned.Interface,
	volumes storagelisters.VolumeLister, volumesSynced func() bool,
	networkInterfaces networkinglisters.NetworkInterfaceLister, networkInterfacesSynced func() bool) *Plugin {
	return &Plugin{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		volumes: newLookup(volumesSynced,
			func(namespace, name string) (*storagev1alpha1.Volume, error) {
				return volumes.Volumes(namespace).Get(name)
			},
			func(ctx context.Context, namespace, name string) (*storagev1alpha1.Volume, error) {
				return client.StorageV1alpha1().Volumes(namespace).Get(ctx, name, metav1.GetOptions{})
			},
			func(v *storagev1alpha1.Volume) string {
				if v.Spec.ClaimRef == nil {
					return ""
				}
				return v.Spec.ClaimRef.Name
			}),
		networkInterfaces: newLookup(networkInterfacesSynced,
			func(namespace, name string) (*networkingv1alpha1.NetworkInterface, error) {
				return networkInterfaces.NetworkInterfaces(namespace).Get(name)
			},
			func(ctx context.Context, namespace, name string) (*networkingv1alpha1.NetworkInterface, error) {
				return client.NetworkingV1alpha1().NetworkInterfaces(namespace).Get(ctx, name, metav1.GetOptions{})
			},
			func(n *networkingv1alpha1.NetworkInterface) string {
				if n.Spec.MachineRef == nil {
					return ""
				}
				return n.Spec.MachineRef.Name
			}),
	}
}

// newLookup builds the lookup of one kind from its lister, its live read and its claim.
func newLookup[T metav1.Object](synced func() bool,
	cached func(namespace, name string) (T, error),
	live func(ctx context.Context, namespace, name string) (T, error),
	claimedBy func(T) string) lookup {
	return func(ctx context.Context, namespace, name string) (holder, bool, error) {
		var obj T
		var err error
		if synced() {
			obj, err = cached(namespace, name)
		} else {
			obj, err = live(ctx, namespace, name)
		}
		if apierrors.IsNotFound(err) {
			return holder{}, false, nil
		}
		if err != nil {
			return holder{}, false, err
		}
		return holder{claimedBy: claimedBy(obj), ownedBy: controllingMachine(obj)}, true, nil
	}
}

// controllingMachine returns the name of the Machine controlling obj, or "".
func controllingMachine(obj metav1.Object) string {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Machine" {
		return ""
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != compute.GroupName {
		return ""
	}
	return ref.Name
}

// Validate refuses, with a 422 on the entry's field, a Machine that references a Volume or
// NetworkInterface claimed by or belonging to a machine of another name. A claim by a machine
// of the same name is let through: it is a previous machine of that name, whose claim the claim
// controller releases. On update only references the update adds are checked, so a machine that
// lost a race for an object can still be changed (for instance to drop that reference).
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" || a.GetResource().GroupResource() != compute.Resource("machines") {
		return nil
	}
	machine, ok := a.GetObject().(*compute.Machine)
	if !ok {
		return nil
	}
	oldVolumes, oldNICs := map[string]bool{}, map[string]bool{}
	if old, ok := a.GetOldObject().(*compute.Machine); ok && a.GetOperation() == admission.Update {
		oldVolumes, oldNICs = references(old)
	}
	var errs field.ErrorList
	for i, v := range machine.Spec.Volumes {
		if v.VolumeRef == nil || oldVolumes[v.VolumeRef.Name] {
			continue
		}
		path := field.NewPath("spec", "volumes").Index(i).Child("volumeRef")
		refused, err := p.check(ctx, p.volumes, "Volume", machine, v.VolumeRef.Name, path)
		if err != nil {
			return err
		}
		errs = append(errs, refused...)
	}
	for i, n := range machine.Spec.NetworkInterfaces {
		if n.NetworkInterfaceRef == nil || oldNICs[n.NetworkInterfaceRef.Name] {
			continue
		}
		path := field.NewPath("spec", "networkInterfaces").Index(i).Child("networkInterfaceRef")
		refused, err := p.check(ctx, p.networkInterfaces, "NetworkInterface", machine, n.NetworkInterfaceRef.Name, path)
		if err != nil {
			return err
		}
		errs = append(errs, refused...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(a.GetKind().GroupKind(), a.GetName(), errs)
	}
	return nil
}

// check looks one reference up: a field error when another machine holds the object, or an
// internal error when the lookup failed.
func (p *Plugin) check(ctx context.Context, get lookup, kind string, machine *compute.Machine, name string, path *field.Path) (field.ErrorList, error) {
	h, found, err := get(ctx, machine.Namespace, name)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("reading %s %s/%s: %w", kind, machine.Namespace, name, err))
	}
	switch {
	case !found:
		return nil, nil
	case h.ownedBy != "" && h.ownedBy != machine.Name:
		return field.ErrorList{field.Forbidden(path,
			fmt.Sprintf("%s %s belongs to Machine %q (it is that machine's ephemeral %s)", kind, name, h.ownedBy, kind))}, nil
	case h.claimedBy != "" && h.claimedBy != machine.Name:
		return field.ErrorList{field.Forbidden(path,
			fmt.Sprintf("%s %s is claimed by Machine %q: a %s is used by one machine at a time", kind, name, h.claimedBy, kind))}, nil
	}
	return nil, nil
}

// references returns the names of the Volumes and NetworkInterfaces a machine references.
func references(m *compute.Machine) (volumes, nics map[string]bool) {
	volumes, nics = map[string]bool{}, map[string]bool{}
	for _, v := range m.Spec.Volumes {
		if v.VolumeRef != nil {
			volumes[v.VolumeRef.Name] = true
		}
	}
	for _, n := range m.Spec.NetworkInterfaces {
		if n.NetworkInterfaceRef != nil {
			nics[n.NetworkInterfaceRef.Name] = true
		}
	}
	return volumes, nics
}
