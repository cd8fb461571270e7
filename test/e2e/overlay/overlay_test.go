//go:build e2e

package overlay

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// bootTimeout bounds a TCG guest's way from create to its DHCP lease.
const bootTimeout = 4 * time.Minute

// guest is a Machine of the suite with one network interface at a fixed address.
type guest struct {
	name, network, address, pool string
}

// The guests: a and b share the network blue on different hosts; c is in red, at an address
// blue could also use, on b's host.
var (
	guestA = guest{name: "a", network: "blue", address: "10.10.0.1", pool: localcluster.LocalPoolName}
	guestB = guest{name: "b", network: "blue", address: "10.10.0.2", pool: secondPool}
	guestC = guest{name: "c", network: "red", address: "10.10.0.3", pool: secondPool}
)

func (g guest) manifest() string {
	selector := "topology.ferrite.dev/zone: zone-a"
	if g.pool == secondPool {
		selector = "overlay.ferrite.dev/host: " + secondPool
	}
	return fmt.Sprintf(`apiVersion: networking.ferrite.dev/v1alpha1
kind: NetworkInterface
metadata:
  name: %[1]s
  labels:
    app: %[1]s
spec:
  networkRef:
    name: %[2]s
  ips:
  - value: %[3]s
---
apiVersion: compute.ferrite.dev/v1alpha1
kind: Machine
metadata:
  name: %[1]s
spec:
  machineClassRef:
    name: %[4]s
  machinePoolSelector:
    %[5]s
  power: "On"
  image: %[6]s
  networkInterfaces:
  - name: eth0
    networkInterfaceRef:
      name: %[1]s
`, g.name, g.network, g.address, class, selector, env.Pool.GuestImage)
}

var started atomic.Bool

// startGuests applies the networks and the three guests once, and waits until each has its
// address by DHCP (the guest prints "DHCP eth0 <address>/32" on its console) and its
// NetworkInterface is Available.
func startGuests(t *testing.T) {
	t.Helper()
	if started.Load() {
		return
	}
	suite.Apply(t, `apiVersion: networking.ferrite.dev/v1alpha1
kind: Network
metadata:
  name: blue
---
apiVersion: networking.ferrite.dev/v1alpha1
kind: Network
metadata:
  name: red
`)
	for _, g := range []guest{guestA, guestB, guestC} {
		suite.Apply(t, g.manifest())
	}
	for _, g := range []guest{guestA, guestB, guestC} {
		suite.WaitConsole(t, g.name, bootTimeout, "DHCP eth0 "+g.address+"/32")
		localtest.Eventually(t, time.Minute, "NetworkInterface "+g.name+" Available", func() error {
			nic, err := ferrite.NetworkingV1alpha1().NetworkInterfaces(namespace).Get(t.Context(), g.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if nic.Status.State != networkingv1alpha1.NetworkInterfaceStateAvailable {
				return fmt.Errorf("state %q", nic.Status.State)
			}
			return nil
		})
		m, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(t.Context(), g.name, metav1.GetOptions{})
		if err != nil || m.Spec.MachinePoolRef == nil || m.Spec.MachinePoolRef.Name != g.pool || m.Status.State != computev1alpha1.MachineStateRunning {
			t.Fatalf("machine %s: %+v, %v; want Running on %s", g.name, m.Status.State, err, g.pool)
		}
	}
	started.Store(true)
}

var marker atomic.Int64

// inGuest runs a shell command on a guest's serial console and reports whether it succeeded.
// The result is printed as RESULT-<n>-ok or RESULT-<n>-failed, where n is computed in the
// guest, so the console's echo of the typed line never matches.
func inGuest(t *testing.T, g guest, command string, timeout time.Duration) bool {
	t.Helper()
	n := marker.Add(1) + 1000
	line := fmt.Sprintf("if %s >/dev/null 2>&1; then echo RESULT-$((%d+1))-ok; else echo RESULT-$((%d+1))-failed; fi\n", command, n-1, n-1)
	suite.TypeInto(t, g.name, line)
	ok, failed := fmt.Sprintf("RESULT-%d-ok", n), fmt.Sprintf("RESULT-%d-failed", n)
	var result bool
	localtest.Eventually(t, timeout, fmt.Sprintf("%s to finish %q", g.name, command), func() error {
		out, err := suite.ConsoleLog(t, g.name)
		switch {
		case err != nil:
			return err
		case strings.Contains(out, ok):
			result = true
		case strings.Contains(out, failed):
			result = false
		default:
			return fmt.Errorf("no result yet")
		}
		return nil
	})
	return result
}

func ping(t *testing.T, from guest, to string) bool {
	t.Helper()
	return inGuest(t, from, "ping -c 3 -W 2 "+to, time.Minute)
}

// Two Machines on two pools in one Network get their addresses by DHCP and ping each other.
func TestSameNetworkAcrossHosts(t *testing.T) {
	startGuests(t)
	if !ping(t, guestA, guestB.address) {
		t.Errorf("a cannot ping b across the hosts")
	}
	if !ping(t, guestB, guestA.address) {
		t.Errorf("b cannot ping a across the hosts")
	}
}

// A Machine in another Network reaches neither of them, and they do not reach it, though its
// address is one their network could hold.
func TestOtherNetworkIsolated(t *testing.T) {
	startGuests(t)
	for _, to := range []string{guestA.address, guestB.address} {
		if ping(t, guestC, to) {
			t.Errorf("c (network red) reaches %s in network blue", to)
		}
	}
	if ping(t, guestA, guestC.address) {
		t.Errorf("a (network blue) reaches c in network red")
	}
}

// A guest reaches neither its host's nor another host's underlay address, nor a reflector; and
// a VXLAN packet it sends to its host's VXLAN port is never decapsulated, while the same bytes
// from the other hypervisor (a known VTEP) are.
func TestGuestCannotReachHosts(t *testing.T) {
	startGuests(t)
	for _, to := range []string{hypervisors[0].addr, hypervisors[1].addr, reflectorAddrs[0]} {
		if ping(t, guestA, to) {
			t.Errorf("a reaches the underlay address %s", to)
		}
	}
	network, err := ferrite.NetworkingV1alpha1().Networks(namespace).Get(t.Context(), "blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vni := uint32(network.Status.VNI)
	packet := vxlanEcho(vni, hypervisors[0].addr, guestB.address, guestA.address)
	device := fmt.Sprintf("fvx%d", vni)

	// The control: from hypervisor h2's underlay address the packet is taken in.
	before := rxPackets(t, hypervisors[0].ns, device)
	sendUDP(t, hypervisors[1].ns, hypervisors[0].addr, vxlanPort, packet)
	localtest.Eventually(t, 10*time.Second, "the packet from the known VTEP decapsulated on h1", func() error {
		if got := rxPackets(t, hypervisors[0].ns, device); got <= before {
			return fmt.Errorf("%s received %d packets, as before", device, got)
		}
		return nil
	})

	// From the guest: the same bytes to its host's VXLAN port, and to the gateway's.
	octal := ""
	for _, b := range packet {
		octal += fmt.Sprintf("\\%03o", b)
	}
	if !inGuest(t, guestA, fmt.Sprintf("[ $(printf '%s' | wc -c) -eq %d ]", octal, len(packet)), time.Minute) {
		t.Fatalf("the guest's printf does not make the %d-byte packet", len(packet))
	}
	before = rxPackets(t, hypervisors[0].ns, device)
	for _, to := range []string{hypervisors[0].addr, "169.254.1.1"} {
		inGuest(t, guestA, fmt.Sprintf("printf '%s' | nc -u -w 1 %s %d", octal, to, vxlanPort), time.Minute)
	}
	time.Sleep(2 * time.Second)
	if after := rxPackets(t, hypervisors[0].ns, device); after != before {
		t.Errorf("%s on h1 took in %d packets while the guest sent VXLAN to its host", device, after-before)
	}
	if !ping(t, guestA, guestB.address) {
		t.Errorf("a lost b after trying the host")
	}
}
