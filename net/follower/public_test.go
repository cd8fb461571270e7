package follower_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/follower"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

// The interfaces' public services reach the agent: status.virtualIP, status.nat (only without
// a VirtualIP) and the public LoadBalancers of their network that select them, with the
// addresses of the interface's family and their ports; deleting a load balancer takes it away.
func TestPublicServicesOfInterfaces(t *testing.T) {
	ctx := t.Context()
	ns := poollettest.Unique("public")
	if _, err := server.Client.NetworkingV1alpha1().Networks(ns).Create(ctx,
		&networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nat := &networkingv1alpha1.NATAssignment{NATGatewayRef: corev1.LocalObjectReference{Name: "gw"}, IP: "203.0.113.20", PortMin: 1024, PortMax: 2047}
	web := placeNIC(t, ns, "web", "10.0.0.5", ns, map[string]string{"role": "web"})
	setStatus(t, ns, "web", func(s *networkingv1alpha1.NetworkInterfaceStatus) { s.VirtualIP, s.NAT = "203.0.113.10", nat })
	worker := placeNIC(t, ns, "worker", "10.0.0.6", ns, map[string]string{"role": "worker"})
	setStatus(t, ns, "worker", func(s *networkingv1alpha1.NetworkInterfaceStatus) { s.NAT = nat })

	lbs := server.Client.NetworkingV1alpha1().LoadBalancers(ns)
	endPort := int32(5010)
	web80 := metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"}}
	for _, lb := range []networkingv1alpha1.LoadBalancer{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1alpha1.LoadBalancerSpec{
			Type: networkingv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net"},
			NetworkInterfaceSelector: &web80,
			Ports:                    []networkingv1alpha1.LoadBalancerPort{{Port: 80}, {Protocol: corev1.ProtocolUDP, Port: 5000, EndPort: &endPort}},
		}, Status: networkingv1alpha1.LoadBalancerStatus{IPs: []string{"2001:db8::30", "203.0.113.30"}}},
		// Neither internal ones, nor one without a selector, nor one of another network count.
		{ObjectMeta: metav1.ObjectMeta{Name: "internal"}, Spec: networkingv1alpha1.LoadBalancerSpec{
			Type: networkingv1alpha1.LoadBalancerTypeInternal, NetworkRef: corev1.LocalObjectReference{Name: "net"}, NetworkInterfaceSelector: &web80,
		}, Status: networkingv1alpha1.LoadBalancerStatus{IPs: []string{"10.0.0.100"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "unselective"}, Spec: networkingv1alpha1.LoadBalancerSpec{
			Type: networkingv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "net"},
		}, Status: networkingv1alpha1.LoadBalancerStatus{IPs: []string{"203.0.113.31"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}, Spec: networkingv1alpha1.LoadBalancerSpec{
			Type: networkingv1alpha1.LoadBalancerTypePublic, NetworkRef: corev1.LocalObjectReference{Name: "other"}, NetworkInterfaceSelector: &web80,
		}, Status: networkingv1alpha1.LoadBalancerStatus{IPs: []string{"203.0.113.32"}}},
	} {
		created, err := lbs.Create(ctx, &lb, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status = lb.Status
		if _, err := lbs.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	a := &agent{present: map[string]bool{}}
	f, err := follower.New(follower.Config{Client: server.Client, PoolName: ns, Agent: a, StatusInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Run(ctx) }()

	webTap, workerTap := tapdevice.Name(string(web.UID)), tapdevice.Name(string(worker.UID))
	get := func(name string) (dataplane.Interface, bool) {
		got := a.interfaces()
		i := slices.IndexFunc(got, func(x dataplane.Interface) bool { return x.Name == name })
		if i < 0 {
			return dataplane.Interface{}, false
		}
		return got[i], true
	}
	wantLB := dataplane.LoadBalancer{IP: netip.MustParseAddr("203.0.113.30"), Ports: []dataplane.PortRange{
		{Protocol: "TCP", First: 80}, {Protocol: "UDP", First: 5000, Last: 5010}}}
	var last dataplane.Interface
	poollettest.WaitFor(t, "web's VirtualIP and load balancer, without its NAT share", func() bool {
		w, ok := get(webTap)
		last = w
		return ok && w.VirtualIP == netip.MustParseAddr("203.0.113.10") && w.NAT == nil &&
			len(w.LoadBalancers) == 1 && w.LoadBalancers[0].IP == wantLB.IP && slices.Equal(w.LoadBalancers[0].Ports, wantLB.Ports)
	})
	w, _ := get(workerTap)
	if want := (dataplane.NAT{IP: netip.MustParseAddr("203.0.113.20"), PortMin: 1024, PortMax: 2047}); w.NAT == nil || *w.NAT != want ||
		w.VirtualIP.IsValid() || len(w.LoadBalancers) != 0 {
		t.Errorf("worker: virtual IP %v, nat %+v, load balancers %v; want only nat %+v", w.VirtualIP, w.NAT, w.LoadBalancers, want)
	}
	if err := last.Validate(); err != nil {
		t.Errorf("web's interface is not valid: %v", err)
	}

	// The VirtualIP goes: web's NAT share takes over. The load balancer goes: web is no target.
	setStatus(t, ns, "web", func(s *networkingv1alpha1.NetworkInterfaceStatus) { s.VirtualIP = "" })
	if err := lbs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poollettest.WaitFor(t, "web with its NAT share and no load balancer", func() bool {
		w, ok := get(webTap)
		return ok && !w.VirtualIP.IsValid() && w.NAT != nil && w.NAT.PortMin == 1024 && len(w.LoadBalancers) == 0
	})
}

func setStatus(t *testing.T, ns, name string, change func(*networkingv1alpha1.NetworkInterfaceStatus)) {
	t.Helper()
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		nic, err := nics.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(&nic.Status)
		_, err = nics.UpdateStatus(t.Context(), nic, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
