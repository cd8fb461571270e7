package secretref

import (
	"context"
	"reflect"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

const ns = "team-a"

// kubeWithSecret is a fake kube-apiserver holding Secret "boot" (key user-data) that allows
// only the user "reader" to get Secrets in ns. reviews collects the SubjectAccessReviews it got.
func kubeWithSecret(reviews *[]authorizationv1.SubjectAccessReviewSpec) *kubefake.Clientset {
	kube := kubefake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "boot", Namespace: ns},
		Data: map[string][]byte{"user-data": []byte("#cloud-config")}})
	kube.PrependReactor("create", "subjectaccessreviews", func(action clienttesting.Action) (bool, runtime.Object, error) {
		review := action.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		*reviews = append(*reviews, review.Spec)
		attributes := review.Spec.ResourceAttributes
		review.Status.Allowed = review.Spec.User == "reader" && attributes != nil && attributes.Namespace == ns &&
			attributes.Verb == "get" && attributes.Resource == "secrets" && attributes.Group == ""
		return true, review, nil
	})
	return kube
}

func createMachine(requester user.Info, secret, key string) admission.Attributes {
	machine := &compute.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: ns},
		Spec: compute.MachineSpec{IgnitionRef: &compute.SecretKeySelector{Name: secret, Key: key}}}
	return admission.NewAttributesRecord(machine, nil, compute.Kind("Machine").WithVersion(""), ns, "m",
		compute.Resource("machines").WithVersion(""), "", admission.Create, &metav1.CreateOptions{}, false, requester)
}

// secretsRead counts the Secret reads the plugin made with the apiserver's own rights.
func secretsRead(kube *kubefake.Clientset) int {
	n := 0
	for _, action := range kube.Actions() {
		if action.GetResource().Resource == "secrets" {
			n++
		}
	}
	return n
}

// TestCallerWithoutSecretAccessLearnsNothing: a caller who may not get Secrets gets the same 403
// whether the Secret exists with the key, exists without it, or does not exist, and the plugin
// does not read the Secret at all.
func TestCallerWithoutSecretAccessLearnsNothing(t *testing.T) {
	var reviews []authorizationv1.SubjectAccessReviewSpec
	kube := kubeWithSecret(&reviews)
	plugin := New(kube)
	mallory := &user.DefaultInfo{Name: "mallory", UID: "u-1", Groups: []string{"tenants", "system:authenticated"},
		Extra: map[string][]string{"scopes": {"a", "b"}}}
	var messages []string
	for _, ref := range [][2]string{{"boot", "user-data"}, {"boot", "ignition.json"}, {"absent", "ignition.json"}} {
		err := plugin.Validate(context.Background(), createMachine(mallory, ref[0], ref[1]), nil)
		if !apierrors.IsForbidden(err) {
			t.Fatalf("Secret %s key %s for a caller without access: %v, want Forbidden", ref[0], ref[1], err)
		}
		// The message names only what the caller sent, never what the Secret holds.
		messages = append(messages, err.Error())
	}
	if messages[0] != messages[1] {
		t.Errorf("the answers differ by key:\n%s\n%s", messages[0], messages[1])
	}
	if n := secretsRead(kube); n != 0 {
		t.Errorf("the plugin read Secrets %d times for a caller without access", n)
	}
	want := authorizationv1.SubjectAccessReviewSpec{User: "mallory", UID: "u-1", Groups: []string{"tenants", "system:authenticated"},
		Extra:              map[string]authorizationv1.ExtraValue{"scopes": {"a", "b"}},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Version: "v1", Resource: "secrets", Name: "boot"}}
	if len(reviews) == 0 || !reflect.DeepEqual(reviews[0], want) {
		t.Errorf("SubjectAccessReview %+v, want %+v", reviews, want)
	}
}

// TestCallerWithSecretAccess: a caller who may get the Secret is told about a missing key (422)
// and only warned about a missing Secret.
func TestCallerWithSecretAccess(t *testing.T) {
	var reviews []authorizationv1.SubjectAccessReviewSpec
	plugin := New(kubeWithSecret(&reviews))
	reader := &user.DefaultInfo{Name: "reader"}
	if err := plugin.Validate(context.Background(), createMachine(reader, "boot", "user-data"), nil); err != nil {
		t.Errorf("Secret with the key: %v", err)
	}
	if err := plugin.Validate(context.Background(), createMachine(reader, "boot", "ignition.json"), nil); !apierrors.IsInvalid(err) {
		t.Errorf("Secret without the key: %v, want Invalid", err)
	}
	if err := plugin.Validate(context.Background(), createMachine(reader, "absent", "ignition.json"), nil); err != nil {
		t.Errorf("Secret not created yet: %v, want only a warning", err)
	}
}
