package publicaddress_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/publicaddress"
)

// waitVirtualIP waits until the interface's status.virtualIP is want, or, with want "*", any
// address; it returns the address.
func waitVirtualIP(t *testing.T, namespace, name, want string) string {
	t.Helper()
	var got string
	waitFor(t, fmt.Sprintf("%s/%s status.virtualIP %q", namespace, name, want), func(ctx context.Context) (bool, string) {
		n, err := getNIC(ctx, namespace, name)
		if err != nil {
			return false, err.Error()
		}
		got = n.Status.VirtualIP
		return got == want || (want == "*" && got != ""), got
	})
	return got
}

// waitTarget waits until the VirtualIP's targetRef names the interface (name and uid).
func waitTarget(t *testing.T, namespace, vip string, target *networkingv1alpha1.NetworkInterface) *networkingv1alpha1.VirtualIP {
	t.Helper()
	var v *networkingv1alpha1.VirtualIP
	waitFor(t, fmt.Sprintf("VirtualIP %s bound to %s", vip, target.Name), func(ctx context.Context) (bool, string) {
		var err error
		if v, err = getVIP(ctx, namespace, vip); err != nil {
			return false, err.Error()
		}
		ref := v.Spec.TargetRef
		return ref != nil && ref.Name == target.Name && ref.UID == target.UID, fmt.Sprintf("%+v", ref)
	})
	return v
}

// An interface that names a free VirtualIP becomes its target and gets its address; a second
// interface naming it gets a Warning event and no address until the first is gone.
func TestBindingFromInterface(t *testing.T) {
	ns := namespace("bind-nic")
	ctx := t.Context()
	vips := server.Client.NetworkingV1alpha1().VirtualIPs(ns)
	if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: "vip"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := mustCreateNIC(t, ns, nic("a", "net", "vip"))
	waitTarget(t, ns, "vip", a)
	ip := waitVirtualIP(t, ns, "a", "*")
	if vip, _ := getVIP(ctx, ns, "vip"); vip.Status.IP != ip {
		t.Errorf("a has status.virtualIP %s, the VirtualIP's address is %s", ip, vip.Status.IP)
	}

	b := mustCreateNIC(t, ns, nic("b", "net", "vip"))
	event := waitEvent(t, ns+"/b Warning "+publicaddress.ReasonVirtualIPTaken)
	t.Log(event)
	waitVirtualIP(t, ns, "b", "")
	if n, _ := getNIC(ctx, ns, "b"); n.Status.VirtualIP != "" {
		t.Errorf("b got %s though the VirtualIP is a's", n.Status.VirtualIP)
	}

	// a goes: the VirtualIP is free again and b takes it.
	if err := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTarget(t, ns, "vip", b)
	waitVirtualIP(t, ns, "b", ip)
}

// A VirtualIP whose targetRef names an interface gives it its address; clearing the targetRef
// takes it away. A VirtualIP owned by a NATGateway or LoadBalancer is never bound (see
// TestLoadBalancerAddresses).
func TestBindingFromVirtualIP(t *testing.T) {
	ns := namespace("bind-vip")
	ctx := t.Context()
	mustCreateNIC(t, ns, nic("c", "net", ""))
	vips := server.Client.NetworkingV1alpha1().VirtualIPs(ns)
	if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: "vip"},
		Spec:       networkingv1alpha1.VirtualIPSpec{TargetRef: &networkingv1alpha1.TargetReference{Name: "c"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ip := waitVirtualIP(t, ns, "c", "*")
	t.Logf("c has %s", ip)
	vip, err := getVIP(ctx, ns, "vip")
	if err != nil {
		t.Fatal(err)
	}
	vip.Spec.TargetRef = nil
	if _, err := vips.Update(ctx, vip, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVirtualIP(t, ns, "c", "")
}
