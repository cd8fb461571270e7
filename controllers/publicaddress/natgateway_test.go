package publicaddress_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/publicaddress"
)

func gateway(name, network string, ports int32) *networkingv1alpha1.NATGateway {
	return &networkingv1alpha1.NATGateway{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       networkingv1alpha1.NATGatewaySpec{NetworkRef: corev1Ref(network), PortsPerNetworkInterface: ports},
	}
}

// slot is an expected status.nat: a gateway and a port range, or none (gateway "").
type slot struct {
	gateway          string
	portMin, portMax int32
}

func natOf(n *networkingv1alpha1.NetworkInterface) slot {
	if n.Status.NAT == nil {
		return slot{}
	}
	return slot{n.Status.NAT.NATGatewayRef.Name, n.Status.NAT.PortMin, n.Status.NAT.PortMax}
}

// waitNAT waits until each named interface holds the expected slot.
func waitNAT(t *testing.T, namespace string, want map[string]slot) {
	t.Helper()
	waitFor(t, fmt.Sprintf("status.nat %v", want), func(ctx context.Context) (bool, string) {
		got := map[string]slot{}
		for name := range want {
			n, err := getNIC(ctx, namespace, name)
			if err != nil {
				return false, err.Error()
			}
			got[name] = natOf(n)
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	})
}

// waitGateway waits until the gateway has an address and portsUsed is want; it returns the
// address.
func waitGateway(t *testing.T, namespace, name string, portsUsed int32) string {
	t.Helper()
	var ip string
	waitFor(t, fmt.Sprintf("NATGateway %s with an address and portsUsed %d", name, portsUsed), func(ctx context.Context) (bool, string) {
		g, err := server.Client.NetworkingV1alpha1().NATGateways(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(g.Status.IPs) == 1 {
			ip = g.Status.IPs[0]
		}
		return ip != "" && g.Status.PortsUsed == portsUsed && g.Status.ObservedGeneration == g.Generation, fmt.Sprintf("%+v", g.Status)
	})
	return ip
}

// waitGone waits until get reports the object is gone.
func waitGone(t *testing.T, what string, get func(ctx context.Context) error) {
	t.Helper()
	waitFor(t, what+" gone", func(ctx context.Context) (bool, string) {
		err := get(ctx)
		if err == nil {
			return false, "still there"
		}
		return true, ""
	})
}

// Three interfaces get consecutive ranges of 64 ports; one that gets a VirtualIP loses its
// range and a new interface reuses it; interfaces of another network get none; deleting the
// gateway clears every range and its VirtualIP.
func TestNATSlots(t *testing.T) {
	ns := namespace("nat-slots")
	ctx := t.Context()
	for _, name := range []string{"n1", "n2", "n3"} {
		mustCreateNIC(t, ns, nic(name, "net", ""))
	}
	mustCreateNIC(t, ns, nic("elsewhere", "other", ""))
	gateways := server.Client.NetworkingV1alpha1().NATGateways(ns)
	if _, err := gateways.Create(ctx, gateway("gw", "net", 64), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT(t, ns, map[string]slot{"n1": {"gw", 1024, 1087}, "n2": {"gw", 1088, 1151}, "n3": {"gw", 1152, 1215}, "elsewhere": {}})
	ip := waitGateway(t, ns, "gw", 3*64)
	n1, _ := getNIC(ctx, ns, "n1")
	if n1.Status.NAT.IP != ip {
		t.Errorf("n1 has NAT address %s, the gateway %s", n1.Status.NAT.IP, ip)
	}
	vip, err := getVIP(ctx, ns, publicaddress.NATVirtualIPName("gw"))
	if err != nil {
		t.Fatal(err)
	}
	if owner := metav1.GetControllerOf(vip); owner == nil || owner.Kind != "NATGateway" || owner.Name != "gw" || vip.Status.IP != ip {
		t.Errorf("VirtualIP %s: owner %+v, address %s; want controlled by NATGateway gw, address %s", vip.Name, owner, vip.Status.IP, ip)
	}

	// n1 gets its own VirtualIP: its range is free, and n4 takes it.
	if _, err := server.Client.NetworkingV1alpha1().VirtualIPs(ns).Create(ctx, &networkingv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "n1-vip"},
		Spec:       networkingv1alpha1.VirtualIPSpec{TargetRef: &networkingv1alpha1.TargetReference{Name: "n1"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVirtualIP(t, ns, "n1", "*")
	waitNAT(t, ns, map[string]slot{"n1": {}, "n2": {"gw", 1088, 1151}, "n3": {"gw", 1152, 1215}})
	waitGateway(t, ns, "gw", 2*64)
	mustCreateNIC(t, ns, nic("n4", "net", ""))
	waitNAT(t, ns, map[string]slot{"n1": {}, "n2": {"gw", 1088, 1151}, "n3": {"gw", 1152, 1215}, "n4": {"gw", 1024, 1087}})
	waitGateway(t, ns, "gw", 3*64)

	// Deleting the gateway clears every range, then its VirtualIP, then the gateway goes.
	if err := gateways.Delete(ctx, "gw", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "NATGateway gw", func(ctx context.Context) error { _, err := gateways.Get(ctx, "gw", metav1.GetOptions{}); return err })
	waitGone(t, "VirtualIP gw-nat", func(ctx context.Context) error { _, err := getVIP(ctx, ns, "gw-nat"); return err })
	waitNAT(t, ns, map[string]slot{"n1": {}, "n2": {}, "n3": {}, "n4": {}})
}

// With ranges of 32768 ports there is one slot: the second interface gets none and a Warning
// event, until the first is gone.
func TestNATCapacity(t *testing.T) {
	ns := namespace("nat-capacity")
	ctx := t.Context()
	mustCreateNIC(t, ns, nic("x1", "net", ""))
	mustCreateNIC(t, ns, nic("x2", "net", ""))
	if _, err := server.Client.NetworkingV1alpha1().NATGateways(ns).Create(ctx, gateway("gw", "net", 32768), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT(t, ns, map[string]slot{"x1": {"gw", 1024, 33791}, "x2": {}})
	waitGateway(t, ns, "gw", 32768)
	t.Log(waitEvent(t, ns+"/gw Warning "+publicaddress.ReasonNATPortsExhausted))
	if err := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Delete(ctx, "x1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT(t, ns, map[string]slot{"x2": {"gw", 1024, 33791}})
}

// Of two gateways of one network the older serves and the other gets a Warning event; when the
// older goes, the other takes over.
func TestSecondGatewayWaits(t *testing.T) {
	ns := namespace("nat-second")
	ctx := t.Context()
	mustCreateNIC(t, ns, nic("y1", "net", ""))
	gateways := server.Client.NetworkingV1alpha1().NATGateways(ns)
	if _, err := gateways.Create(ctx, gateway("first", "net", 1024), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT(t, ns, map[string]slot{"y1": {"first", 1024, 2047}})
	if _, err := gateways.Create(ctx, gateway("second", "net", 2048), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Log(waitEvent(t, ns+"/second Warning "+publicaddress.ReasonNATGatewayNotServing))
	waitGateway(t, ns, "second", 0)
	waitNAT(t, ns, map[string]slot{"y1": {"first", 1024, 2047}})
	if err := gateways.Delete(ctx, "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNAT(t, ns, map[string]slot{"y1": {"second", 1024, 3071}})
	waitGateway(t, ns, "second", 2048)
}
