package apiserver

import (
	"context"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/ferrite-dev/ferrite/apis/compute"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned/fake"
	"github.com/ferrite-dev/ferrite/generated/informers/externalversions"
)

// TestQuotaIsLastInAdmission runs the server's admission chain (aggregated mode, where secretref
// is in it) on a Machine create that secretref refuses: the quota must not have been charged.
// Quota charges before the object is stored, so it has to be the last step.
func TestQuotaIsLastInAdmission(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ns = "team-a"
	// NewClientset's field-managed tracker has no schema for Ferrite's types (status updates
	// fail); the plain tracker is all this test needs.
	ferrite := fake.NewSimpleClientset(
		&computev1alpha1.MachineClass{ObjectMeta: metav1.ObjectMeta{Name: "small"},
			Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
		&corev1alpha1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: ns},
			Spec: corev1alpha1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("10")}},
			Status: corev1alpha1.ResourceQuotaStatus{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("10")},
				Used: corev1.ResourceList{"requests.cpu": resource.MustParse("0")}}},
	)
	kube := kubefake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "boot", Namespace: ns},
		Data: map[string][]byte{"user-data": []byte("#cloud-config")}})
	kube.PrependReactor("create", "subjectaccessreviews", func(action clienttesting.Action) (bool, runtime.Object, error) {
		review := action.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		review.Status.Allowed = true
		return true, review, nil
	})
	chain := admissionChain(nil, ferrite, externalversions.NewSharedInformerFactory(ferrite, 0), kube)

	machine := &compute.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: ns}, Spec: compute.MachineSpec{
		MachineClassRef: corev1.LocalObjectReference{Name: "small"},
		IgnitionRef:     &compute.SecretKeySelector{Name: "boot", Key: "ignition.json"}}}
	attributes := admission.NewAttributesRecord(machine, nil, compute.Kind("Machine").WithVersion(""), ns, "m",
		compute.Resource("machines").WithVersion(""), "", admission.Create, &metav1.CreateOptions{}, false,
		&user.DefaultInfo{Name: "alice"})
	err := chain.(admission.ValidationInterface).Validate(ctx, attributes, nil)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("machine whose Secret lacks the key: %v, want Invalid from secretref", err)
	}
	quota, err := ferrite.CoreV1alpha1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := quota.Status.Used["requests.cpu"]; !used.IsZero() {
		t.Fatalf("a refused create charged requests.cpu %s", used.String())
	}
}
