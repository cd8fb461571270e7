// Package secretref is the admission plugin that resolves Secret references of Ferrite
// objects (a Machine's ignitionRef) against the Kubernetes core API, where Secrets live when
// Ferrite runs behind kube-apiserver.
//
// The plugin reads Secrets with the apiserver's own rights, which reach every namespace. So
// that it does not become an oracle (telling a caller whether a Secret exists and which keys it
// has), it first asks kube-apiserver, with a SubjectAccessReview, whether the caller may get that
// Secret, and refuses without looking at the Secret when the answer is no.
package secretref

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/kubernetes"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

// PluginName is the name of the plugin in the admission chain.
const PluginName = "ferrite.dev/SecretRef"

// Plugin checks that the caller may read a referenced Secret and that it has the referenced key.
type Plugin struct {
	*admission.Handler
	kube kubernetes.Interface
}

var _ admission.ValidationInterface = &Plugin{}

// New returns the plugin; kube is a client of the kube-apiserver that holds the Secrets and
// answers SubjectAccessReviews.
func New(kube kubernetes.Interface) *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), kube: kube}
}

// Validate refuses a machine whose caller may not get the ignition Secret, and a machine whose
// ignition Secret exists but lacks the key. A Secret that does not exist yet only draws a
// warning: it is often created right after the machine (kubectl apply of a directory), and the
// poollet waits for it.
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
	namespace := a.GetNamespace()
	allowed, err := p.mayGet(ctx, a.GetUserInfo(), namespace, ref.Name)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("checking access to Secret %s/%s: %w", namespace, ref.Name, err))
	}
	if !allowed {
		// The same answer whether or not the Secret exists: nothing about it has been read.
		return admission.NewForbidden(a, fmt.Errorf("spec.ignitionRef: the requester may not get Secret %q in namespace %q", ref.Name, namespace))
	}
	secret, err := p.kube.CoreV1().Secrets(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		warning.AddWarning(ctx, "", fmt.Sprintf("spec.ignitionRef: Secret %s/%s does not exist yet; the machine will wait for it", namespace, ref.Name))
		return nil
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reading Secret %s/%s: %w", namespace, ref.Name, err))
	}
	if _, ok := secret.Data[ref.Key]; !ok {
		return apierrors.NewInvalid(a.GetKind().GroupKind(), a.GetName(), field.ErrorList{
			field.Invalid(field.NewPath("spec", "ignitionRef", "key"), ref.Key, fmt.Sprintf("Secret %s has no key %q", ref.Name, ref.Key)),
		})
	}
	return nil
}

// mayGet asks kube-apiserver whether the requester may get the named Secret. A request without
// a user (which the generic server does not send) is never allowed.
func (p *Plugin) mayGet(ctx context.Context, requester user.Info, namespace, name string) (bool, error) {
	if requester == nil {
		return false, nil
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for key, values := range requester.GetExtra() {
		extra[key] = values
	}
	review, err := p.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   requester.GetName(),
			Groups: requester.GetGroups(),
			UID:    requester.GetUID(),
			Extra:  extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: "get", Version: "v1", Resource: "secrets", Name: name,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return review.Status.Allowed, nil
}
