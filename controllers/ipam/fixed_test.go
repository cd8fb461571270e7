package ipam_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/ipam"
)

// A fixed interface address is entered into its prefix's ledger: allocation never hands it out
// again, and a second interface fixed on an address already in use is refused with an event.
func TestFixedAddressesInLedger(t *testing.T) {
	server := testserver.Start(t)
	first, second := startIPAM(t, server), startIPAM(t, server)
	ctx := context.Background()
	const namespace = "fixed"
	net := root("net", "10.2.0.0/29", map[string]string{ipam.LabelNetwork: "net-f"})
	net.Namespace = namespace
	if _, err := server.Client.IpamV1alpha1().Prefixes(namespace).Create(ctx, net, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(namespace)
	nic := func(name string, fixed string) *networkingv1alpha1.NetworkInterface {
		n := &networkingv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec:       networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: "net-f"}},
		}
		if fixed != "" {
			n.Spec.IPs = []networkingv1alpha1.IPSource{{Value: fixed}}
		}
		return n
	}
	ipsOf := func(name string) []string {
		n, err := nics.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Status.IPs
	}
	// 10.2.0.1 is the address allocation would hand out first.
	if _, err := nics.Create(ctx, nic("pinned", "10.2.0.1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pinned recorded in the ledger", func() bool {
		p, err := server.Client.IpamV1alpha1().Prefixes(namespace).Get(ctx, "net", metav1.GetOptions{})
		return err == nil && slices.Contains(p.Status.Used, "10.2.0.1/32") && slices.Equal(ipsOf("pinned"), []string{"10.2.0.1"})
	})
	// The other five addresses go to five allocating interfaces, none to the fixed one's.
	parallel(5, func(i int) {
		if _, err := nics.Create(ctx, nic(fmt.Sprintf("dynamic-%d", i), ""), metav1.CreateOptions{}); err != nil {
			t.Error(err)
		}
	})
	byIP := map[string]string{}
	waitFor(t, 30*time.Second, "five allocated addresses", func() bool {
		list, err := nics.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byIP = map[string]string{}
		for _, n := range list.Items {
			for _, ip := range n.Status.IPs {
				if other, dup := byIP[ip]; dup {
					t.Fatalf("%s handed to %s and %s", ip, other, n.Name)
				}
				byIP[ip] = n.Name
			}
		}
		return len(byIP) == 6
	})
	// A second interface fixed on an address already allocated is refused.
	taken := ""
	for ip, name := range byIP {
		if name != "pinned" {
			taken = ip
			break
		}
	}
	if _, err := nics.Create(ctx, nic("clash", taken), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "clash refused", func() bool {
		return count(namespace+"/clash Warning "+ipam.ReasonAddressInUse, first, second) > 0
	})
	if ips := ipsOf("clash"); len(ips) != 0 {
		t.Errorf("clash got %v, already held by %s", ips, byIP[taken])
	}
	p, err := server.Client.IpamV1alpha1().Prefixes(namespace).Get(ctx, "net", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Phase != ipamv1alpha1.PrefixPhaseAllocated || len(p.Status.Used) != 6 {
		t.Errorf("ledger %v, want the six addresses once each", p.Status.Used)
	}
}

// A fixed address given to an interface before any prefix contained it (taken as given) is
// entered into the ledger of the prefix that appears later: the prefix's events requeue the
// interface, whose own status does not change.
func TestFixedAddressReservedWhenItsPrefixAppears(t *testing.T) {
	server := testserver.Start(t)
	startIPAM(t, server)
	startIPAM(t, server)
	ctx := context.Background()
	const namespace = "fixed-later"
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(namespace)
	pinned := &networkingv1alpha1.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: namespace},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{
			NetworkRef: corev1.LocalObjectReference{Name: "net-l"},
			IPs:        []networkingv1alpha1.IPSource{{Value: "10.3.0.1"}},
		},
	}
	if _, err := nics.Create(ctx, pinned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pinned given its address outside any prefix", func() bool {
		n, err := nics.Get(ctx, "pinned", metav1.GetOptions{})
		return err == nil && slices.Equal(n.Status.IPs, []string{"10.3.0.1"})
	})
	net := root("net", "10.3.0.0/29", map[string]string{ipam.LabelNetwork: "net-l"})
	net.Namespace = namespace
	if _, err := server.Client.IpamV1alpha1().Prefixes(namespace).Create(ctx, net, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pinned recorded in the ledger of the new prefix", func() bool {
		p, err := server.Client.IpamV1alpha1().Prefixes(namespace).Get(ctx, "net", metav1.GetOptions{})
		return err == nil && slices.Equal(p.Status.Used, []string{"10.3.0.1/32"})
	})
	n, err := nics.Get(ctx, "pinned", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.Status.IPs, []string{"10.3.0.1"}) {
		t.Errorf("pinned has %v, want [10.3.0.1]", n.Status.IPs)
	}
}
