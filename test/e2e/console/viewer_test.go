//go:build e2e

package console

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
)

// TestViewer: a user bound to view in the namespace sees its machines, gets no create button,
// and the API's refusals (writes, Secrets, other namespaces) reach the page as 403s, never data.
func TestViewer(t *testing.T) {
	const name = "viewer-sees"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// No pool matches its selector: it stays Pending and costs no guest.
	if _, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: class},
			MachinePoolSelector: map[string]string{"e2e-console": "nowhere"},
			Image:               env.Pool.GuestImage,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ferrite.ComputeV1alpha1().Machines(namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})

	b := newBrowser(t)
	b.loginToken(env.Cluster.Tokens[localcluster.ViewerUser])
	if user := b.text("current-user"); !strings.Contains(user, localcluster.ViewerUser) {
		t.Fatalf("current-user shows %q, want %s", user, localcluster.ViewerUser)
	}
	b.open("/machines?namespace="+namespace, "list-machines")
	b.waitText("row-"+name, name, 30*time.Second)
	b.waitText("state-"+name, "Pending", 30*time.Second)
	// The create button appears only once the access review said yes: give it time to.
	time.Sleep(2 * time.Second)
	if b.exists("create-machine") {
		t.Errorf("the viewer is offered create-machine")
	}
	b.screenshot("viewer-machines")

	// Straight at the proxy, with the session's CSRF token: the API's 403, no data.
	for _, request := range []struct{ method, path string }{
		{"POST", "/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/" + namespace + "/machines"},
		{"DELETE", "/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/" + namespace + "/machines/" + name},
		{"GET", "/k8s/api/v1/namespaces/" + namespace + "/secrets"},
		{"GET", "/k8s/apis/compute.ferrite.dev/v1alpha1/namespaces/default/machines"},
	} {
		type response struct {
			Status int    `json:"status"`
			Body   string `json:"body"`
		}
		result := evaluate[response](b, fmt.Sprintf(`(async () => {
  const session = await (await fetch('/auth/session')).json();
  const response = await fetch(%q, {method: %q, headers: {'X-CSRF-Token': session.csrfToken, 'Content-Type': 'application/json'},
    body: %q === 'POST' ? JSON.stringify({apiVersion: 'compute.ferrite.dev/v1alpha1', kind: 'Machine', metadata: {name: 'viewer-made'}, spec: {machineClassRef: {name: %q}}}) : undefined});
  return {status: response.status, body: await response.text()};
})()`, request.path, request.method, request.method, class))
		if result.Status != 403 || !strings.Contains(result.Body, `"reason":"Forbidden"`) {
			t.Errorf("%s %s as the viewer: %d %s, want the API's 403", request.method, request.path, result.Status, result.Body)
		}
	}
	if _, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Errorf("the viewer's delete went through: %v", err)
	}

	// A namespace the viewer may not read: the page says so instead of showing an empty list.
	b.open("/machines?namespace=default", "list-error-machines")
	b.waitText("list-error-machines", "forbidden", 30*time.Second)
	if b.exists("list-machines") {
		t.Errorf("the forbidden namespace shows a machine list")
	}
	b.screenshot("viewer-forbidden-namespace")
}
