//go:build e2e

package overlay

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/test/e2e/localtest"
)

// How long a new Machine's network interface takes, from `kubectl apply` to the first ping from
// a guest on another host: the machine Running (a TCG boot is most of it), the interface
// Available (tap in its VNI, address announced), the route in the other host's kernel, the
// guest's DHCP lease, and the ping. Printed, never judged.
func TestTimeToFirstPing(t *testing.T) {
	startGuests(t)
	d := guest{name: "d", network: "blue", address: "10.10.0.4", pool: secondPool}
	start := time.Now()
	suite.Apply(t, d.manifest())
	network, err := ferrite.NetworkingV1alpha1().Networks(namespace).Get(t.Context(), "blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), bootTimeout)
	defer cancel()
	var running, available, routed time.Duration
	table := "table " + itoa(1_000_000+int(network.Status.VNI))
	for (running == 0 || available == 0 || routed == 0) && ctx.Err() == nil {
		elapsed := time.Since(start)
		if running == 0 {
			if m, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(ctx, d.name, metav1.GetOptions{}); err == nil && m.Status.State == computev1alpha1.MachineStateRunning {
				running = elapsed
			}
		}
		if available == 0 {
			if n, err := ferrite.NetworkingV1alpha1().NetworkInterfaces(namespace).Get(ctx, d.name, metav1.GetOptions{}); err == nil && n.Status.State == networkingv1alpha1.NetworkInterfaceStateAvailable {
				available = elapsed
			}
		}
		if routed == 0 {
			out, _ := exec.Command("ip", append([]string{"-n", hypervisors[0].ns, "route", "show"}, strings.Fields(table)...)...).CombinedOutput()
			if strings.Contains(string(out), d.address+" ") {
				routed = elapsed
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatalf("after %s: running %s, available %s, route on h1 %s", bootTimeout, running, available, routed)
	}
	suite.WaitConsole(t, d.name, bootTimeout, "DHCP eth0 "+d.address+"/32")
	leased := time.Since(start)
	var pinged time.Duration
	localtest.Eventually(t, time.Minute, "a's first ping to d", func() error {
		if !inGuest(t, guestA, "ping -c 1 -W 1 "+d.address, time.Minute) {
			return errNoPing
		}
		pinged = time.Since(start)
		return nil
	})
	t.Logf("from kubectl apply: Running %.1fs, NetworkInterface Available %.1fs, route on the other host %.1fs, DHCP lease seen on the console %.1fs, first ping from the other host %.1fs",
		running.Seconds(), available.Seconds(), routed.Seconds(), leased.Seconds(), pinged.Seconds())
}

var errNoPing = errors.New("no reply yet")

func itoa(n int) string { return strconv.Itoa(n) }
