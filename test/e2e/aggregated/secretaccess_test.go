//go:build e2e

package aggregated

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// TestIgnitionSecretNeedsTheCallersAccess: secretref reads Secrets with ferrite-apiserver's own
// rights, so it first checks with a SubjectAccessReview that the caller may get the Secret. A
// tenant who may create Machines but not read Secrets gets the same 403 for a Secret that exists
// with the key, exists without it, or does not exist; a tenant who may read it is told about a
// missing key (422).
func TestIgnitionSecretNeedsTheCallersAccess(t *testing.T) {
	ctx := testContext(t)
	const ns = "secret-access"
	kube, _ := clients(t, cluster.Config)
	createNamespace(t, kube, ns)
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "boot"},
		Data: map[string][]byte{"ignition.json": []byte(`{"ignition":{"version":"3.4.0"}}`)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const blind, reader = "secret-access-blind", "secret-access-reader"
	bindClusterRole(t, ns, "ferrite-admin", blind)
	bindClusterRole(t, ns, "ferrite-admin", reader)
	if _, err := kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secret-getter"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "secret-getter"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "secret-getter"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: reader}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	create := func(ctx context.Context, user, name, secret, key string) error {
		_, ferrite := clients(t, impersonating(user))
		m := machine(name)
		m.Spec.IgnitionRef = &computev1alpha1.SecretKeySelector{Name: secret, Key: key}
		_, err := ferrite.ComputeV1alpha1().Machines(ns).Create(ctx, m, metav1.CreateOptions{})
		return err
	}
	// The reader's access shows once the bindings are in the authorizer's view.
	if err := eventually(ctx, 30*time.Second, func(ctx context.Context) error {
		err := create(ctx, reader, "reader-bad-key", "boot", "cloud-config")
		if apierrors.IsInvalid(err) && strings.Contains(err.Error(), "spec.ignitionRef.key") {
			return nil
		}
		return err
	}); err != nil {
		t.Fatalf("reader, Secret without the key: %v, want 422 naming spec.ignitionRef.key", err)
	}
	for _, c := range []struct{ name, secret, key string }{
		{"blind-good", "boot", "ignition.json"},
		{"blind-bad-key", "boot", "cloud-config"},
		{"blind-absent", "absent", "ignition.json"},
	} {
		err := create(ctx, blind, c.name, c.secret, c.key)
		if !apierrors.IsForbidden(err) || strings.Contains(err.Error(), "no key") || strings.Contains(err.Error(), "does not exist") {
			t.Errorf("tenant without Secret access, Secret %s key %s: %v, want a 403 that says nothing about the Secret", c.secret, c.key, err)
		}
	}
}
