// Package networkref is the admission plugin that refuses a new NetworkInterface in a Network
// that is being deleted: such a network waits for its interfaces to go (the network protection
// finalizer), so a new interface would keep it alive, or be left without its network.
package networkref

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"

	"github.com/ferrite-dev/ferrite/apis/networking"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// Plugin checks the network of a new NetworkInterface.
type Plugin struct {
	*admission.Handler
	client versioned.Interface
}

var _ admission.ValidationInterface = &Plugin{}

// New returns the plugin; client reads Networks (the server's loopback client).
func New(client versioned.Interface) *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create), client: client}
}

// Validate refuses, with a 422 on spec.networkRef, a NetworkInterface whose Network exists and
// is being deleted. The network is read live, not from a cache, so that the protection
// controller, which lists interfaces live before it lets a network go, and this check leave
// only the time between this read and the interface's write for a race. A network that does
// not exist yet is no reason to refuse: objects are often created in any order.
// networkRef is immutable, so only creates are checked.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" {
		return nil
	}
	nic, ok := a.GetObject().(*networking.NetworkInterface)
	if !ok || nic.Spec.NetworkRef.Name == "" {
		return nil
	}
	network, err := p.client.NetworkingV1alpha1().Networks(a.GetNamespace()).Get(ctx, nic.Spec.NetworkRef.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reading Network %s/%s: %w", a.GetNamespace(), nic.Spec.NetworkRef.Name, err))
	}
	if network.DeletionTimestamp == nil {
		return nil
	}
	return apierrors.NewInvalid(a.GetKind().GroupKind(), a.GetName(), field.ErrorList{
		field.Forbidden(field.NewPath("spec", "networkRef"), fmt.Sprintf("Network %s is being deleted", network.Name)),
	})
}
