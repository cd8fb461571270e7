// Package secretref is the admission plugin that resolves Secret references of Ferrite
// objects (a Machine's ignitionRef) against the Kubernetes core API, where Secrets live when
// Ferrite runs behind kube-apiserver.
package secretref

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/kubernetes"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

// Plugin checks that a referenced Secret has the referenced key.
type Plugin struct {
	*admission.Handler
	secrets kubernetes.Interface
}

var _ admission.ValidationInterface = &Plugin{}

// New returns the plugin; secrets is a client of the kube-apiserver that holds the Secrets.
func New(secrets kubernetes.Interface) *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), secrets: secrets}
}

// Validate refuses a machine whose ignition Secret exists but lacks the key. A Secret that
// does not exist yet only draws a warning: it is often created right after the machine
// (kubectl apply of a directory), and the poollet waits for it.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" {
		return nil
	}
	machine, ok := a.GetObject().(*compute.Machine)
	if !ok || machine.Spec.IgnitionRef == nil {
		return nil
	}
	if old, ok := a.GetOldObject().(*compute.Machine); ok && old.Spec.IgnitionRef != nil && *old.Spec.IgnitionRef == *machine.Spec.IgnitionRef {
		return nil
	}
	ref := machine.Spec.IgnitionRef
	secret, err := p.secrets.CoreV1().Secrets(a.GetNamespace()).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		warning.AddWarning(ctx, "", fmt.Sprintf("spec.ignitionRef: Secret %s/%s does not exist yet; the machine will wait for it", a.GetNamespace(), ref.Name))
		return nil
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reading Secret %s/%s: %w", a.GetNamespace(), ref.Name, err))
	}
	if _, ok := secret.Data[ref.Key]; !ok {
		return apierrors.NewInvalid(a.GetKind().GroupKind(), a.GetName(), field.ErrorList{
			field.Invalid(field.NewPath("spec", "ignitionRef", "key"), ref.Key, fmt.Sprintf("Secret %s has no key %q", ref.Name, ref.Key)),
		})
	}
	return nil
}
