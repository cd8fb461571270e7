//go:build e2e

package machines

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/machine"
)

// A Machine applied with kubectl is scheduled onto the local pool, becomes a running QEMU domain
// booted from the OCI guest image, and its console (through the apiserver, the poollet and the
// provider) shows the kernel banner and its ignition. Power Off shuts the domain off and the
// Machine is Shutdown; power On runs it again. An empty disk is hot-plugged and unplugged. Delete
// leaves no domain, no disk and no finalizer.
func TestMachineLifecycle(t *testing.T) {
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: web-ignition
stringData:
  ignition.json: '{"ignition":{"version":"3.4.0"},"e2e":"hello-from-ignition"}'
---
apiVersion: compute.ferrite.dev/v1alpha1
kind: Machine
metadata:
  name: web
spec:
  machineClassRef:
    name: %s
  power: "On"
  image: %s
  ignitionRef:
    name: web-ignition
`, class, pool.GuestImage)
	apply(t, manifest)
	m := waitState(t, "web", computev1alpha1.MachineStateRunning, bootTimeout)
	uid := string(m.UID)
	if m.Spec.MachinePoolRef == nil || m.Spec.MachinePoolRef.Name != "local" {
		t.Fatalf("bound to %+v, want the local pool", m.Spec.MachinePoolRef)
	}
	if got := domainState(t, uid); got != "running" {
		t.Fatalf("domain state %q, want running", got)
	}
	if n := domainCount(t, uid); n != 1 {
		t.Fatalf("%d domains for the Machine, want 1", n)
	}
	waitConsole(t, "web", bootTimeout, "GUEST-UP", "Linux version", "hello-from-ignition")
	eventually(t, time.Minute, "Ready=True", func() error {
		if c := meta.FindStatusCondition(getMachine(t, "web").Status.Conditions, machine.ConditionReady); c == nil || c.Status != "True" {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})

	kubectl(t, "patch", "machine", "web", "--type=merge", "-p", `{"spec":{"power":"Off"}}`)
	waitState(t, "web", computev1alpha1.MachineStateShutdown, 2*time.Minute)
	if got := domainState(t, uid); got != "shut off" {
		t.Errorf("domain state %q after power Off, want shut off", got)
	}
	kubectl(t, "patch", "machine", "web", "--type=merge", "-p", `{"spec":{"power":"On"}}`)
	waitState(t, "web", computev1alpha1.MachineStateRunning, 2*time.Minute)
	if got := domainState(t, uid); got != "running" {
		t.Errorf("domain state %q after power On, want running", got)
	}

	// Hot-plug an empty disk, then unplug it.
	kubectl(t, "patch", "machine", "web", "--type=merge", "-p", `{"spec":{"volumes":[{"name":"scratch","emptyDisk":{"sizeLimit":"64Mi"}}]}}`)
	eventually(t, time.Minute, "the disk attached", func() error {
		m := getMachine(t, "web")
		if len(m.Status.Volumes) != 1 || m.Status.Volumes[0].State != computev1alpha1.AttachmentAttached {
			return fmt.Errorf("status.volumes %+v", m.Status.Volumes)
		}
		if out, _ := suite.Virsh(t, "domblklist", uid); !strings.Contains(out, "vdb") {
			return fmt.Errorf("domblklist:\n%s", out)
		}
		return nil
	})
	kubectl(t, "patch", "machine", "web", "--type=json", "-p", `[{"op":"remove","path":"/spec/volumes"}]`)
	eventually(t, time.Minute, "the disk detached", func() error {
		if out, _ := suite.Virsh(t, "domblklist", uid); strings.Contains(out, "vdb") {
			return fmt.Errorf("domblklist:\n%s", out)
		}
		if m := getMachine(t, "web"); len(m.Status.Volumes) != 0 {
			return fmt.Errorf("status.volumes %+v", m.Status.Volumes)
		}
		return nil
	})

	kubectl(t, "delete", "machine", "web", "--wait=true", "--timeout=2m")
	if n := domainCount(t, uid); n != 0 {
		t.Errorf("%d domains left after delete", n)
	}
	if left := filesOf(t, uid); len(left) > 0 {
		t.Errorf("files of the deleted machine left in the provider's state: %v", left)
	}
}

// apply pipes a manifest to kubectl apply.
func apply(t *testing.T, manifest string) {
	t.Helper()
	out, err := runInput(t, manifest, "bin/kubectl", "-n", namespace, "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}
