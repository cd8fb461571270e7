//go:build e2e

package volumes

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// bootTimeout bounds a machine's way from create to a booted guest: its root volume cloned from
// the image, scheduling, define and start, and a kernel boot under TCG.
const bootTimeout = 4 * time.Minute

// A Machine whose first volume has an image boots from that RBD volume (no local root disk), a
// second RBD volume is attached beside it, and growing that volume while the machine runs grows
// the guest's disk. Deleting the machine deletes its ephemeral root volume and its image.
func TestMachineBootsFromVolume(t *testing.T) {
	applyVolume(t, namespace, "vm-data", fastClass, "32Mi", "")
	suite.Apply(t, fmt.Sprintf(`apiVersion: compute.ferrite.dev/v1alpha1
kind: Machine
metadata: {name: vm}
spec:
  machineClassRef: {name: %s}
  power: "On"
  volumes:
  - name: root
    ephemeral:
      volumeClassRef: {name: %s}
      resources: {storage: 64Mi}
      image: %s
  - name: data
    volumeRef: {name: vm-data}
`, machineClass, fastClass, pool.GuestImage))
	var m *computev1alpha1.Machine
	localtest.Eventually(t, bootTimeout, "Machine vm Running", func() error {
		var err error
		if m, err = ferrite.ComputeV1alpha1().Machines(namespace).Get(context.Background(), "vm", metav1.GetOptions{}); err != nil {
			return err
		}
		if m.Status.State != computev1alpha1.MachineStateRunning {
			return fmt.Errorf("state %q, conditions %+v", m.Status.State, m.Status.Conditions)
		}
		return nil
	})
	uid := string(m.UID)
	// The guest counts its boots on the root file system it found on /dev/vda: the RBD clone.
	suite.WaitConsole(t, "vm", bootTimeout, "GUEST-UP", "ROOTDISK /dev/vda", "BOOT 1", "GUEST-READY")

	xml, err := suite.Virsh(t, "dumpxml", uid)
	if err != nil {
		t.Fatalf("virsh dumpxml: %v\n%s", err, xml)
	}
	if n := strings.Count(xml, "protocol='rbd'"); n != 2 {
		t.Errorf("%d RBD disks in the domain, want 2 (root and data):\n%s", n, xml)
	}
	root := getVolume(t, namespace, "vm-root")
	if root == nil || !strings.Contains(xml, image(root)) {
		t.Errorf("the domain does not use the root volume's image:\n%s", xml)
	}
	if strings.Contains(xml, "<disk type='file' device='disk'>") {
		t.Errorf("the domain has a local disk besides its volumes:\n%s", xml)
	}

	suite.MustKubectl(t, "patch", "volume", "vm-data", "--type=merge", "-p", `{"spec":{"resources":{"storage":"48Mi"}}}`)
	localtest.Eventually(t, 2*time.Minute, "the attached disk grown to 48 MiB in the domain", func() error {
		out, err := suite.Virsh(t, "domblkinfo", uid, "vdb")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(out, fmt.Sprint(48<<20)) {
			return fmt.Errorf("domblkinfo vdb:\n%s", out)
		}
		return nil
	})

	suite.MustKubectl(t, "delete", "machine", "vm", "--wait=true", "--timeout=3m")
	localtest.Eventually(t, 2*time.Minute, "the ephemeral root volume and its image gone", func() error {
		if getVolume(t, namespace, "vm-root") != nil {
			return fmt.Errorf("Volume vm-root still there")
		}
		if root != nil {
			if _, ok := rbdInfo(t, image(root)); ok {
				return fmt.Errorf("image %s still there", image(root))
			}
		}
		return nil
	})
	deleteVolume(t, namespace, "vm-data")
}
