package publicaddress_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/controllers/publicaddress"
)

// A public load balancer gets an owned VirtualIP and its address, which no interface can bind;
// an Internal one gets a Warning event and no address; deleting the load balancer deletes its
// VirtualIP.
func TestLoadBalancerAddresses(t *testing.T) {
	ns := namespace("lb")
	ctx := t.Context()
	lbs := server.Client.NetworkingV1alpha1().LoadBalancers(ns)
	if _, err := lbs.Create(ctx, &networkingv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       networkingv1alpha1.LoadBalancerSpec{Type: networkingv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1Ref("net")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ip string
	waitFor(t, "LoadBalancer web with an address", func(ctx context.Context) (bool, string) {
		lb, err := lbs.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(lb.Status.IPs) == 1 {
			ip = lb.Status.IPs[0]
		}
		return ip != "", fmt.Sprintf("%+v", lb.Status)
	})
	name := publicaddress.LoadBalancerVirtualIPName("web", corev1.IPv4Protocol)
	vip, err := getVIP(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if owner := metav1.GetControllerOf(vip); owner == nil || owner.Kind != "LoadBalancer" || owner.Name != "web" || vip.Status.IP != ip {
		t.Errorf("VirtualIP %s: owner %+v, address %s; want controlled by LoadBalancer web, address %s", name, owner, vip.Status.IP, ip)
	}

	// An interface asking for the load balancer's VirtualIP is refused.
	mustCreateNIC(t, ns, nic("grabby", "net", name))
	t.Log(waitEvent(t, ns+"/grabby Warning "+publicaddress.ReasonVirtualIPNotBindable))
	if vip, _ := getVIP(ctx, ns, name); vip.Spec.TargetRef != nil {
		t.Errorf("the load balancer's VirtualIP was bound to %+v", vip.Spec.TargetRef)
	}

	if _, err := lbs.Create(ctx, &networkingv1alpha1.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Name: "inside"},
		Spec:       networkingv1alpha1.LoadBalancerSpec{Type: networkingv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1Ref("net")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Log(waitEvent(t, ns+"/inside Warning "+publicaddress.ReasonInternalUnsupported))
	if _, err := getVIP(ctx, ns, publicaddress.LoadBalancerVirtualIPName("inside", corev1.IPv4Protocol)); err == nil {
		t.Error("the Internal load balancer got a VirtualIP")
	}

	for _, lb := range []string{"web", "inside"} {
		if err := lbs.Delete(ctx, lb, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, "LoadBalancer "+lb, func(ctx context.Context) error { _, err := lbs.Get(ctx, lb, metav1.GetOptions{}); return err })
	}
	waitGone(t, "VirtualIP "+name, func(ctx context.Context) error { _, err := getVIP(ctx, ns, name); return err })
}
