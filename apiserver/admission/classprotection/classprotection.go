// Package classprotection is the admission plugin that puts the class-protection finalizer on
// every new MachineClass and VolumeClass, so that a class is protected from its first moment:
// deleting it then waits until the controller manager's class protection controller
// (controllers/classprotection) finds nothing that uses it and removes the finalizer. That
// controller also adds the finalizer to classes created before this plugin existed.
package classprotection

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/storage"
)

// PluginName is the name of the plugin in the admission chain.
const PluginName = "ferrite.dev/ClassProtection"

// finalizers maps each protected resource to its finalizer.
var finalizers = map[schema.GroupResource]string{
	compute.Resource("machineclasses"): compute.ClassProtectionFinalizer,
	storage.Resource("volumeclasses"):  storage.ClassProtectionFinalizer,
}

// Plugin is the class protection admission plugin.
type Plugin struct {
	*admission.Handler
}

var _ admission.MutationInterface = &Plugin{}

// New returns the plugin.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create)}
}

// Admit adds the finalizer to a new class.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	finalizer, ok := finalizers[a.GetResource().GroupResource()]
	if !ok || a.GetSubresource() != "" {
		return nil
	}
	class, ok := a.GetObject().(metav1.Object)
	if !ok || slices.Contains(class.GetFinalizers(), finalizer) {
		return nil
	}
	class.SetFinalizers(append(class.GetFinalizers(), finalizer))
	return nil
}
