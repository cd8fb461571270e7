//go:build e2e

package brokers

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	brokermachine "github.com/ferrite-dev/ferrite/broker/machine"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// A Machine and a Volume made in the region run in the zone: the Volume is an RBD image of the
// zone's Ceph cluster, the Machine a QEMU domain of the zone's pool with that volume attached,
// an empty disk, its user data and its network interface's address as the region assigned it.
// Status, power, the console and delete pass through the brokers.
func TestMachineAndVolumeRunBelow(t *testing.T) {
	start := time.Now()
	region.suite.Apply(t, `apiVersion: networking.ferrite.dev/v1alpha1
kind: Network
metadata: {name: net}
---
apiVersion: storage.ferrite.dev/v1alpha1
kind: Volume
metadata: {name: data}
spec:
  volumeClassRef: {name: `+volumeClass+`}
  resources: {storage: 64Mi}
---
`+ignitionManifest("vm-ignition", "through-one-broker")+`---
`+machineManifest("vm", `  ignitionRef: {name: vm-ignition}
  volumes:
  - name: data
    volumeRef: {name: data}
  - name: scratch
    emptyDisk: {sizeLimit: 16Mi}
  networkInterfaces:
  - name: eth0
    ephemeral:
      networkRef: {name: net}
      ips: [10.0.0.5]
`))

	// The Volume: Available in the region once the zone's is, with the zone's Ceph image.
	volume := region.waitVolume(t, namespace, "data")
	zoneVolume := zone.waitVolume(t, regionBrokers, "v-"+string(volume.UID))
	if zoneVolume.Status.Access.Driver != "ceph" || volume.Status.Access.Handle != zoneVolume.Status.Access.Handle {
		t.Errorf("region access %+v, zone access %+v: want the zone's ceph image", volume.Status.Access, zoneVolume.Status.Access)
	}
	if out, err := exec.Command("rbd", "--conf", zonePool.CephConf, "info", zoneVolume.Status.Access.Handle).CombinedOutput(); err != nil {
		t.Errorf("rbd info %s in the zone's Ceph cluster: %v\n%s", zoneVolume.Status.Access.Handle, err, out)
	}

	// The Machine: Running at both levels, on the zone's pool, built from the region's spec.
	c := follow(t, []*level{region, zone}, []string{regionBrokers}, namespace, "vm")
	c.waitState(t, computev1alpha1.MachineStateRunning)
	zm := zone.machine(t, regionBrokers, c.names[1])
	if zm.Spec.MachinePoolRef == nil || zm.Spec.MachinePoolRef.Name != "local" {
		t.Errorf("zone Machine on pool %+v, want local", zm.Spec.MachinePoolRef)
	}
	if got := zm.Labels[brokermachine.LabelID]; got != string(c.uids[0]) {
		t.Errorf("zone Machine's ID label %q, want the region Machine's UID %s", got, c.uids[0])
	}
	var volumeRefs []string
	for _, v := range zm.Spec.Volumes {
		if v.VolumeRef != nil {
			volumeRefs = append(volumeRefs, v.VolumeRef.Name)
		}
	}
	if !slices.Contains(volumeRefs, zoneVolume.Name) {
		t.Errorf("zone Machine volumes %+v: no volumeRef to %s", zm.Spec.Volumes, zoneVolume.Name)
	}
	nic, err := zone.ferrite.NetworkingV1alpha1().NetworkInterfaces(regionBrokers).Get(context.Background(), brokermachine.NetworkInterfaceName(string(c.uids[0]), "eth0"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the zone's NetworkInterface of eth0: %v", err)
	}
	regionNetwork, err := region.ferrite.NetworkingV1alpha1().Networks(namespace).Get(context.Background(), "net", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := brokermachine.NetworkName(string(regionNetwork.UID)); nic.Spec.NetworkRef.Name != want {
		t.Errorf("zone NetworkInterface in Network %q, want %q (named from the region Network's UID)", nic.Spec.NetworkRef.Name, want)
	}
	if len(nic.Spec.IPs) != 1 || nic.Spec.IPs[0].Value != "10.0.0.5" {
		t.Errorf("zone NetworkInterface ips %+v, want 10.0.0.5 as the region assigned it", nic.Spec.IPs)
	}
	waitDomain(t, c.domain(), "running")
	xml, _ := zone.suite.Virsh(t, "dumpxml", string(c.domain()))
	if !strings.Contains(xml, zoneVolume.Status.Access.Handle) {
		t.Errorf("the domain does not attach the RBD image %s:\n%s", zoneVolume.Status.Access.Handle, xml)
	}
	localtest.Eventually(t, time.Minute, "the region Machine's volumes Attached", func() error {
		m := region.machine(t, namespace, "vm")
		for _, v := range m.Status.Volumes {
			if v.State != computev1alpha1.AttachmentAttached {
				return fmt.Errorf("volumes %+v", m.Status.Volumes)
			}
		}
		if len(m.Status.Volumes) != 2 {
			return fmt.Errorf("volumes %+v", m.Status.Volumes)
		}
		return nil
	})

	c.waitEventsPassedUp(t)
	logRequests(t, "for a region Machine with user data, an interface and a volume, and that Volume, from create to Running", brokerRequests(t, start, time.Now()))

	// The console: the guest's boot lines and its user data, read in the region.
	region.suite.WaitConsole(t, "vm", consoleTimeout, "GUEST-READY", "through-one-broker")

	powerCycle(t, c, "vm")

	region.suite.MustKubectl(t, "delete", "machine/vm", "--wait=false")
	c.waitGone(t)
	for _, name := range []string{brokermachine.NetworkInterfaceName(string(c.uids[0]), "eth0")} {
		localtest.Eventually(t, time.Minute, "zone NetworkInterface "+name+" gone", func() error {
			if _, err := zone.ferrite.NetworkingV1alpha1().NetworkInterfaces(regionBrokers).Get(context.Background(), name, metav1.GetOptions{}); err == nil {
				return fmt.Errorf("still there")
			}
			return nil
		})
	}
	localtest.Eventually(t, time.Minute, "zone Secret of the user data gone", func() error {
		if _, err := zone.kube.CoreV1().Secrets(regionBrokers).Get(context.Background(), brokermachine.SecretName(string(c.uids[0])), metav1.GetOptions{}); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})

	region.suite.MustKubectl(t, "delete", "volume/data", "--wait=false")
	localtest.Eventually(t, 2*time.Minute, "the Volume gone at both levels and its RBD image removed", func() error {
		if region.volume(t, namespace, "data") != nil || zone.volume(t, regionBrokers, zoneVolume.Name) != nil {
			return fmt.Errorf("a Volume is still there")
		}
		if out, err := exec.Command("rbd", "--conf", zonePool.CephConf, "info", zoneVolume.Status.Access.Handle).CombinedOutput(); err == nil {
			return fmt.Errorf("the RBD image is still there: %s", out)
		}
		return nil
	})
	region.suite.MustKubectl(t, "delete", "network/net", "secret/vm-ignition", "--wait=false")
}

// A Machine made in the global cluster runs through two brokers: global → region (machinebroker
// over the region) → zone (machinebroker over the zone) → a QEMU domain. Status, power, the
// console and delete pass through both levels.
func TestThirdLevel(t *testing.T) {
	global.suite.Apply(t, ignitionManifest("top-ignition", "through-two-brokers")+"---\n"+
		machineManifest("top", "  ignitionRef: {name: top-ignition}\n"))
	c := follow(t, []*level{global, region, zone}, []string{globalBrokers, regionBrokers}, namespace, "top")
	c.waitState(t, computev1alpha1.MachineStateRunning)
	if pool := region.machine(t, globalBrokers, c.names[1]).Spec.MachinePoolRef; pool == nil || pool.Name != regionPool {
		t.Errorf("the region's Machine on pool %+v, want the broker pool %s", pool, regionPool)
	}
	waitDomain(t, c.domain(), "running")
	c.waitEventsPassedUp(t)
	global.suite.WaitConsole(t, "top", consoleTimeout, "GUEST-READY", "through-two-brokers")
	// An interactive session through both brokers: a line typed in the global cluster reaches
	// the guest's shell, and its answer (not the typed line's echo) comes back up.
	global.suite.TypeInto(t, "top", "echo TYPED-$((6*7))\n")
	global.suite.WaitConsole(t, "top", time.Minute, "TYPED-42")

	powerCycle(t, c, "top")

	global.suite.MustKubectl(t, "delete", "machine/top", "secret/top-ignition", "--wait=false")
	c.waitGone(t)
}

// powerCycle powers the chain's top Machine (name, in the test namespace) off and on through
// kubectl, and checks every level and the domain follow.
func powerCycle(t *testing.T, c *chain, name string) {
	t.Helper()
	top := c.levels[0]
	top.suite.MustKubectl(t, "patch", "machine", name, "--type=merge", "-p", `{"spec":{"power":"Off"}}`)
	c.waitState(t, computev1alpha1.MachineStateShutdown)
	waitDomain(t, c.domain(), "shut off")
	top.suite.MustKubectl(t, "patch", "machine", name, "--type=merge", "-p", `{"spec":{"power":"On"}}`)
	c.waitState(t, computev1alpha1.MachineStateRunning)
	waitDomain(t, c.domain(), "running")
	// The guest boots again: its console shows a second boot.
	top.suite.WaitConsole(t, name, consoleTimeout, "BOOT 2")
}
