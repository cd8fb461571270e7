package ipam_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/ipam"
)

// recorder keeps the events a manager records, as "namespace/name type reason".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, _ string, _ ...interface{}) {
	object, _ := apimeta.Accessor(regarding)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, object.GetNamespace()+"/"+object.GetName()+" "+eventtype+" "+reason)
}

// count returns how many of the recorders' events are event.
func count(event string, recorders ...*recorder) int {
	n := 0
	for _, r := range recorders {
		r.mu.Lock()
		for _, e := range r.events {
			if e == event {
				n++
			}
		}
		r.mu.Unlock()
	}
	return n
}

// startIPAM runs a controller manager with the IPAM controllers (public pools in the default
// namespace, ferrite-system) and returns its events.
func startIPAM(t *testing.T, server *testserver.Server) *recorder {
	t.Helper()
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect, o.SeveralManagersInProcess = "0", "0", &off, true
	o.IPAMReleaseGrace = 3 * time.Second
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	mgr, err := controllermanager.NewManager(ctx, server.Config, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	events := &recorder{}
	if err := controllermanager.AddIPAM(ctx, mgr, events, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return events
}

func waitFor(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return condition(), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); fn(i) }(i)
	}
	wg.Wait()
}

// publicNamespace is the controller manager's default --public-prefix-namespace.
const publicNamespace = "ferrite-system"

func root(name, cidr string, labels map[string]string) *ipamv1alpha1.Prefix {
	return &ipamv1alpha1.Prefix{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ipam", Labels: labels}, Spec: ipamv1alpha1.PrefixSpec{Prefix: cidr}}
}

// Two IPAM controllers at once: concurrent child prefixes, interface addresses and virtual IPs
// are all distinct, within their parent, and return to the parent when released.
func TestNoAddressHandedOutTwice(t *testing.T) {
	server := testserver.Start(t)
	startIPAM(t, server)
	startIPAM(t, server)
	ctx := context.Background()
	prefixes := server.Client.IpamV1alpha1().Prefixes("ipam")
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces("ipam")
	vips := server.Client.NetworkingV1alpha1().VirtualIPs("ipam")
	for _, p := range []*ipamv1alpha1.Prefix{
		root("tenant", "10.0.0.0/16", nil),
		root("net-a", "10.1.0.0/24", map[string]string{ipam.LabelNetwork: "net-a"}),
	} {
		if _, err := prefixes.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	public := root("public", "203.0.113.0/29", map[string]string{ipam.LabelVirtualIPs: "true"})
	public.Namespace = publicNamespace
	if _, err := server.Client.IpamV1alpha1().Prefixes(publicNamespace).Create(ctx, public, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// 20 children by length, one fixed, one overlapping the fixed one.
	parallel(20, func(i int) {
		_, err := prefixes.Create(ctx, &ipamv1alpha1.Prefix{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("subnet-%d", i), Namespace: "ipam"},
			Spec:       ipamv1alpha1.PrefixSpec{ParentRef: &corev1.LocalObjectReference{Name: "tenant"}, PrefixLength: 24},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Error(err)
		}
	})
	// In this order: the overlapping one is created once the fixed one holds its range.
	for _, child := range []struct{ name, cidr string }{{"fixed", "10.0.200.0/24"}, {"overlapping", "10.0.200.0/25"}} {
		name, cidr := child.name, child.cidr
		if name == "overlapping" {
			waitFor(t, 30*time.Second, "fixed allocated", func() bool {
				p, err := prefixes.Get(ctx, "fixed", metav1.GetOptions{})
				return err == nil && p.Status.Phase == ipamv1alpha1.PrefixPhaseAllocated
			})
		}
		if _, err := prefixes.Create(ctx, &ipamv1alpha1.Prefix{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ipam"},
			Spec:       ipamv1alpha1.PrefixSpec{ParentRef: &corev1.LocalObjectReference{Name: "tenant"}, Prefix: cidr},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var children []netip.Prefix
	waitFor(t, 30*time.Second, "children allocated", func() bool {
		list, err := prefixes.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		children = nil
		done := 0
		for _, p := range list.Items {
			if p.Spec.ParentRef == nil {
				continue
			}
			switch {
			case p.Name == "overlapping" && p.Status.Phase == ipamv1alpha1.PrefixPhaseFailed:
				done++
			case p.Name != "overlapping" && p.Status.Phase == ipamv1alpha1.PrefixPhaseAllocated:
				children = append(children, netip.MustParsePrefix(p.Spec.Prefix))
				done++
			}
		}
		return done == 22
	})
	tenant := netip.MustParsePrefix("10.0.0.0/16")
	for i, a := range children {
		if !tenant.Contains(a.Addr()) {
			t.Errorf("%s outside the parent", a)
		}
		for _, b := range children[i+1:] {
			if a.Overlaps(b) {
				t.Errorf("children %s and %s overlap", a, b)
			}
		}
	}

	// 60 interfaces of network net-a without IP sources, created at once.
	parallel(60, func(i int) {
		_, err := nics.Create(ctx, &networkingv1alpha1.NetworkInterface{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("nic-%d", i), Namespace: "ipam"},
			Spec:       networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: "net-a"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Error(err)
		}
	})
	addresses := func() map[string]string {
		list, err := nics.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byIP := map[string]string{}
		for _, nic := range list.Items {
			for _, ip := range nic.Status.IPs {
				if other, dup := byIP[ip]; dup {
					t.Fatalf("%s handed to %s and %s", ip, other, nic.Name)
				}
				byIP[ip] = nic.Name
			}
		}
		return byIP
	}
	waitFor(t, 30*time.Second, "60 addresses", func() bool { return len(addresses()) == 60 })
	for ip := range addresses() {
		if !netip.MustParsePrefix("10.1.0.0/24").Contains(netip.MustParseAddr(ip)) {
			t.Errorf("%s outside net-a's prefix", ip)
		}
	}
	usedOf := func(name string) int {
		p, err := prefixes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Status.Used)
	}
	waitFor(t, 30*time.Second, "ledger of 60", func() bool { return usedOf("net-a") == 60 })

	// Released addresses return to the prefix.
	for i := 0; i < 10; i++ {
		if err := nics.Delete(ctx, fmt.Sprintf("nic-%d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "ledger of 50", func() bool { return usedOf("net-a") == 50 })

	// A deleted child's range returns to its parent.
	before := usedOf("tenant")
	if err := prefixes.Delete(ctx, "subnet-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "child range released", func() bool { return usedOf("tenant") == before-1 })

	// Virtual IPs: 6 usable public addresses for 8 requests.
	parallel(8, func(i int) {
		if _, err := vips.Create(ctx, &networkingv1alpha1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vip-%d", i), Namespace: "ipam"}}, metav1.CreateOptions{}); err != nil {
			t.Error(err)
		}
	})
	assigned := func() map[string]string {
		list, err := vips.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byIP := map[string]string{}
		for _, v := range list.Items {
			if v.Status.IP == "" {
				continue
			}
			if other, dup := byIP[v.Status.IP]; dup {
				t.Fatalf("%s handed to %s and %s", v.Status.IP, other, v.Name)
			}
			byIP[v.Status.IP] = v.Name
		}
		return byIP
	}
	// Both managers race for every VirtualIP; the loser gives its reservation back at once, so
	// over-subscription does not stall until the release grace frees lost reservations.
	waitFor(t, 30*time.Second, "6 virtual IPs", func() bool { return len(assigned()) == 6 })
	var freed string
	for ip, name := range assigned() {
		freed = ip
		if err := vips.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		break
	}
	waitFor(t, 30*time.Second, "the freed address reused", func() bool {
		byIP := assigned()
		_, reused := byIP[freed]
		return len(byIP) == 6 && reused
	})
}
