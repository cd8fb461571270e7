package follower_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dhcp"
	"github.com/ferrite-dev/ferrite/net/follower"
	"github.com/ferrite-dev/ferrite/poollet/poollettest"
	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

var server *testserver.Server

func TestMain(m *testing.M) { poollettest.Main(m, "ferrite-follower-test-", &server) }

// agent records the interfaces it is given and reports the ones the test marks present.
type agent struct {
	mu       sync.Mutex
	ifaces   []dataplane.Interface
	peerings map[uint32][]uint32
	present  map[string]bool
}

func (a *agent) SetInterfaces(_ context.Context, ifaces []dataplane.Interface, peerings map[uint32][]uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ifaces, a.peerings = ifaces, peerings
	return nil
}

func (a *agent) peered() map[uint32][]uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peerings
}

func (a *agent) InterfaceState(name string) (bool, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.present[name], a.present[name]
}

func (a *agent) interfaces() []dataplane.Interface {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ifaces
}

func (a *agent) setPresent(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.present[name] = true
}

type leases struct {
	mu  sync.Mutex
	set []dhcp.Lease
}

func (l *leases) Set(set []dhcp.Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = set
}

func (l *leases) get() []dhcp.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set
}

// An interface placed on the pool with an address becomes a dataplane interface in its
// network's VNI and a DHCP lease for its MAC; once the agent reports it announced, its state is
// Available. Interfaces of other pools, and without a machine, are not served.
func TestFollowsPoolInterfaces(t *testing.T) {
	ctx := t.Context()
	ns := poollettest.Unique("follow")
	networks := server.Client.NetworkingV1alpha1().Networks(ns)
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	if _, err := networks.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := placeNIC(t, ns, "mine", "10.0.0.5", ns+"-a", nil)
	placeNIC(t, ns, "theirs", "10.0.0.6", ns+"-b", nil)

	a := &agent{present: map[string]bool{}}
	l := &leases{}
	f, err := follower.New(follower.Config{Client: server.Client, PoolName: ns + "-a", Agent: a, DHCP: l, MTU: 1450,
		StatusInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Run(ctx) }()

	tap := tapdevice.Name(string(mine.UID))
	poollettest.WaitFor(t, "the interface handed to the agent", func() bool {
		got := a.interfaces()
		return len(got) == 1 && got[0].Name == tap && got[0].VNI > 0 &&
			len(got[0].Addresses) == 1 && got[0].Addresses[0] == netip.MustParsePrefix("10.0.0.5/32")
	})
	network, err := networks.Get(ctx, "net", metav1.GetOptions{})
	if err != nil || uint32(network.Status.VNI) != a.interfaces()[0].VNI {
		t.Errorf("VNI %d, want the network's %d (%v)", a.interfaces()[0].VNI, network.Status.VNI, err)
	}
	got := l.get()
	if len(got) != 1 || got[0].Interface != tap || got[0].MAC.String() != tapdevice.MACAddress(string(mine.UID)) ||
		got[0].IPv4 != netip.MustParseAddr("10.0.0.5") || got[0].MTU != 1450 || got[0].Hostname != "vm-mine" {
		t.Errorf("leases %+v", got)
	}
	state := func() networkingv1alpha1.NetworkInterfaceState {
		nic, err := nics.Get(ctx, "mine", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return nic.Status.State
	}
	poollettest.WaitFor(t, "Pending while the tap is missing", func() bool { return state() == networkingv1alpha1.NetworkInterfaceStatePending })
	a.setPresent(tap)
	poollettest.WaitFor(t, "Available once announced", func() bool { return state() == networkingv1alpha1.NetworkInterfaceStateAvailable })

	// A new address reaches the agent; leaving the pool takes the interface away.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		nic, err := nics.Get(ctx, "mine", metav1.GetOptions{})
		if err != nil {
			return err
		}
		nic.Status.IPs = []string{"10.0.0.7"}
		_, err = nics.UpdateStatus(ctx, nic, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	poollettest.WaitFor(t, "the new address", func() bool {
		got := a.interfaces()
		return len(got) == 1 && got[0].Addresses[0] == netip.MustParsePrefix("10.0.0.7/32")
	})
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		nic, err := nics.Get(ctx, "mine", metav1.GetOptions{})
		if err != nil {
			return err
		}
		nic.Status.MachinePoolRef = nil
		_, err = nics.UpdateStatus(ctx, nic, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	poollettest.WaitFor(t, "no interface once it left the pool", func() bool { return len(a.interfaces()) == 0 && len(l.get()) == 0 })
}

// A NetworkPolicy of the interface's network reaches the agent as the interface's Policy, with
// the selected peers resolved to their addresses; deleting it lifts the Policy.
func TestPolicyOfInterface(t *testing.T) {
	ctx := t.Context()
	ns := poollettest.Unique("policy")
	networks := server.Client.NetworkingV1alpha1().Networks(ns)
	if _, err := networks.Create(ctx, &networkingv1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	placeNIC(t, ns, "db", "10.0.0.5", ns+"-a", map[string]string{"role": "db"})
	placeNIC(t, ns, "web", "10.0.0.6", ns+"-b", map[string]string{"role": "web"}) // on another host
	policies := server.Client.NetworkingV1alpha1().NetworkPolicies(ns)
	if _, err := policies.Create(ctx, &networkingv1alpha1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: networkingv1alpha1.NetworkPolicySpec{
			NetworkRef:               corev1.LocalObjectReference{Name: "net"},
			NetworkInterfaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}},
			PolicyTypes:              []networkingv1alpha1.PolicyType{networkingv1alpha1.PolicyTypeIngress},
			Ingress: []networkingv1alpha1.NetworkPolicyRule{{
				Peers: []networkingv1alpha1.NetworkPolicyPeer{{NetworkInterfaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"}}}},
				Ports: []networkingv1alpha1.LoadBalancerPort{{Protocol: corev1.ProtocolTCP, Port: 5432}},
			}},
		}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := &agent{present: map[string]bool{}}
	f, err := follower.New(follower.Config{Client: server.Client, PoolName: ns + "-a", Agent: a, StatusInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Run(ctx) }()
	poollettest.WaitFor(t, "db's interface with its policy", func() bool {
		got := a.interfaces()
		if len(got) != 1 || got[0].Policy == nil || !got[0].Policy.IngressIsolated || len(got[0].Policy.Ingress) != 1 {
			return false
		}
		rule := got[0].Policy.Ingress[0]
		return len(rule.Peers) == 1 && rule.Peers[0].Prefix == netip.MustParsePrefix("10.0.0.6/32") &&
			len(rule.Ports) == 1 && rule.Ports[0].Protocol == "TCP" && rule.Ports[0].First == 5432
	})
	if err := policies.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poollettest.WaitFor(t, "no policy once it is deleted", func() bool {
		got := a.interfaces()
		return len(got) == 1 && got[0].Policy == nil
	})
}

// A peering agreed by both networks (status.peerings, which the network-peering controller
// writes) reaches the agent as the peered network's VNI; one the other side did not agree to
// does not.
func TestPeeringsOfInterfaceNetworks(t *testing.T) {
	ctx := t.Context()
	ns := poollettest.Unique("peer")
	networks := server.Client.NetworkingV1alpha1().Networks(ns)
	peer := func(name, target string) networkingv1alpha1.NetworkPeering {
		return networkingv1alpha1.NetworkPeering{Name: name, NetworkRef: networkingv1alpha1.NetworkPeeringReference{Name: target}}
	}
	for _, n := range []*networkingv1alpha1.Network{
		{ObjectMeta: metav1.ObjectMeta{Name: "net"}, Spec: networkingv1alpha1.NetworkSpec{Peerings: []networkingv1alpha1.NetworkPeering{peer("to-other", "other"), peer("to-third", "third")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "third"}},
	} {
		if _, err := networks.Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Only to-other is in effect.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := networks.Get(ctx, "net", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Peerings = []string{"to-other"}
		_, err = networks.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	placeNIC(t, ns, "nic", "10.0.0.5", ns, nil)
	vni := func(name string) uint32 {
		n, err := networks.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return uint32(n.Status.VNI)
	}
	a := &agent{present: map[string]bool{}}
	f, err := follower.New(follower.Config{Client: server.Client, PoolName: ns, Agent: a, StatusInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.Run(ctx) }()
	own, other := vni("net"), vni("other")
	poollettest.WaitFor(t, "the agreed peering", func() bool {
		got := a.peered()
		return len(got) == 1 && len(got[own]) == 1 && got[own][0] == other
	})
}

// placeNIC creates a NetworkInterface in network "net" claimed by machine vm-<name>, with the
// address ip and, as its pool's machinepoollet would record it, status.machinePoolRef pool.
func placeNIC(t *testing.T, ns, name, ip, pool string, labels map[string]string) *networkingv1alpha1.NetworkInterface {
	t.Helper()
	ctx := t.Context()
	nics := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns)
	nic, err := nics.Create(ctx, &networkingv1alpha1.NetworkInterface{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: "net"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nic.Spec.MachineRef = &networkingv1alpha1.MachineReference{Name: "vm-" + name, UID: types.UID("uid-" + name)}
	if nic, err = nics.UpdateClaim(ctx, name, nic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	nic.Status.IPs = []string{ip}
	nic.Status.MachinePoolRef = &corev1.LocalObjectReference{Name: pool}
	if nic, err = nics.UpdateStatus(ctx, nic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return nic
}
