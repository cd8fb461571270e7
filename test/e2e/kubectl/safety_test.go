//go:build e2e

package kubectl

import (
	"strings"
	"testing"
	"time"
)

// testSafetyRefusals shows the refusals that keep tenants from breaking pools, disks and
// classes, as a kubectl user meets them: a machine cannot be bound to a pool directly, a volume
// attached to one machine cannot be attached to a second, a volume cannot shrink, and a class in
// use is not deleted until nothing uses it.
func testSafetyRefusals(t *testing.T) {
	const machineHead = "apiVersion: compute.ferrite.dev/v1alpha1\nkind: Machine\nmetadata:\n  name: e2e-safety\n  namespace: default\n"

	t.Run("direct pool binding is refused", func(t *testing.T) {
		out := kubectlFails(t, machineHead+"spec:\n  machineClassRef:\n    name: x3-small\n  machinePoolRef:\n    name: host-a\n", "apply", "-f", "-")
		for _, want := range []string{"spec.machinePoolRef", "binding subresource"} {
			if !strings.Contains(out, want) {
				t.Errorf("error lacks %q:\n%s", want, out)
			}
		}
		out = kubectlFails(t, "", "patch", "machine", "web-0", "--type", "merge", "-p", `{"spec":{"machinePoolRef":{"name":"host-a"}}}`)
		if !strings.Contains(out, "spec.machinePoolRef") {
			t.Errorf("patch error lacks spec.machinePoolRef:\n%s", out)
		}
	})

	t.Run("a second machine cannot claim an attached volume", func(t *testing.T) {
		// The controller manager claims data-0 for web-0, the sample machine that references it.
		waitForOutput(t, 60*time.Second, "web-0", "get", "volume", "data-0", "-o", "jsonpath={.spec.claimRef.name}")
		out := kubectlFails(t, machineHead+"spec:\n  machineClassRef:\n    name: x3-small\n  volumes:\n  - name: stolen\n    volumeRef:\n      name: data-0\n", "apply", "-f", "-")
		for _, want := range []string{"spec.volumes[0].volumeRef", "web-0"} {
			if !strings.Contains(out, want) {
				t.Errorf("error lacks %q:\n%s", want, out)
			}
		}
		out = kubectlFails(t, "", "patch", "volume", "data-0", "--type", "merge", "-p", `{"spec":{"claimRef":{"name":"e2e-safety","uid":"0a0a0a0a-0000-4000-8000-000000000000"}}}`)
		if !strings.Contains(out, "spec.claimRef") {
			t.Errorf("patch of the claim lacks spec.claimRef:\n%s", out)
		}
	})

	t.Run("a volume cannot shrink", func(t *testing.T) {
		out := kubectlFails(t, "", "patch", "volume", "data-0", "--type", "merge", "-p", `{"spec":{"resources":{"storage":"1Gi"}}}`)
		if !strings.Contains(out, "spec.resources[storage]") {
			t.Errorf("error lacks spec.resources[storage]:\n%s", out)
		}
		if got := kubectl(t, "get", "volume", "data-0", "-o", "jsonpath={.spec.resources.storage}"); got != "20Gi" {
			t.Errorf("storage %q after a refused shrink, want 20Gi", got)
		}
	})

	t.Run("a class in use waits for its machines", func(t *testing.T) {
		kubectl(t, "delete", "machineclass", "x3-small", "--wait=false")
		// Still there, being deleted, with the reason in describe.
		waitForOutput(t, 30*time.Second, "compute.ferrite.dev/class-protection", "get", "machineclass", "x3-small", "-o", "jsonpath={.metadata.finalizers[*]}")
		if got := kubectl(t, "get", "machineclass", "x3-small", "-o", "jsonpath={.metadata.deletionTimestamp}"); got == "" {
			t.Fatalf("machineclass x3-small has no deletionTimestamp after delete")
		}
		// The reason is an Event; a standalone ferrite-apiserver serves no core API and so no
		// Events (the controller manager logs them), a control plane with kube-apiserver does.
		if _, _, err := kubectlResult(t, "", "get", "--raw", "/api/v1"); err != nil {
			t.Log("no core API (standalone server): the ClassInUse event is in the controller manager's log")
			return
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := kubectl(t, "describe", "machineclass", "x3-small")
			if strings.Contains(out, "web-0") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("describe does not say which machines hold the class:\n%s", out)
			}
			time.Sleep(time.Second)
		}
	})
}

// waitForOutput runs kubectl until its output is want.
func waitForOutput(t *testing.T, timeout time.Duration, want string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, _, err := kubectlResult(t, "", args...)
		if err == nil && strings.TrimSpace(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl %s: %q, want %q within %s", strings.Join(args, " "), got, want, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
