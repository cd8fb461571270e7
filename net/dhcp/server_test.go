package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const guestMAC = "02:00:00:00:00:0a"

func lease(tap string) Lease {
	mac, _ := net.ParseMAC(guestMAC)
	return Lease{Interface: tap, MAC: mac, IPv4: netip.MustParseAddr("10.1.2.3"), Hostname: "vm-a", MTU: 1400}
}

// checkConfigured asserts what the guest's hook made of the lease: the /32, the on-link
// route to the gateway, the default route via it, the MTU and the console line.
func checkConfigured(t *testing.T, g *guest) {
	t.Helper()
	if out := g.must("ip", "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "inet 10.1.2.3/32 ") {
		t.Errorf("guest address: want 10.1.2.3/32, have %q", out)
	}
	routes := g.must("ip", "-4", "route", "show")
	for _, want := range []string{"169.254.1.1 dev eth0 scope link", "default via 169.254.1.1 dev eth0"} {
		if !strings.Contains(routes, want) {
			t.Errorf("guest routes lack %q:\n%s", want, routes)
		}
	}
	if out := g.must("ip", "-o", "link", "show", "dev", "eth0"); !strings.Contains(out, " mtu 1400 ") {
		t.Errorf("guest MTU: want 1400, have %q", out)
	}
	console, err := os.ReadFile(g.console)
	if err != nil || !strings.Contains(string(console), "DHCP eth0 10.1.2.3/32") {
		t.Errorf("guest console: want %q, have %q (%v)", "DHCP eth0 10.1.2.3/32", console, err)
	}
}

func TestGuestGetsLease(t *testing.T) {
	needNetns(t)
	g := newGuest(t)
	link(t, g, "tap0", guestMAC)
	serve(t, Config{}, []Lease{lease("tap0")})
	if out, err := g.dhcp(5); err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	checkConfigured(t, g)
	// Again with the broadcast flag (-B): the replies go to ff:ff:ff:ff:ff:ff instead.
	os.WriteFile(g.console, nil, 0o644)
	g.must("ip", "-4", "addr", "flush", "dev", "eth0")
	if out, err := g.dhcp(5, "-B"); err != nil {
		t.Fatalf("udhcpc -B: %v\n%s", err, out)
	}
	checkConfigured(t, g)
}

// A MAC that holds no lease on the interface gets no offer; the lease's MAC on the same
// link then does, so the silence was the server's choice.
func TestOtherMACGetsNoOffer(t *testing.T) {
	needNetns(t)
	g := newGuest(t)
	link(t, g, "tap0", "02:00:00:00:00:0b")
	serve(t, Config{}, []Lease{lease("tap0")})
	if out, err := g.dhcp(3); err == nil {
		t.Fatalf("udhcpc with another MAC got a lease:\n%s", out)
	}
	if out := g.must("ip", "-4", "-o", "addr", "show", "dev", "eth0"); strings.Contains(out, "inet ") {
		t.Fatalf("guest with another MAC has an address: %q", out)
	}
	g.must("ip", "link", "set", "eth0", "address", guestMAC)
	if out, err := g.dhcp(5); err != nil {
		t.Fatalf("udhcpc with the lease's MAC: %v\n%s", err, out)
	}
	checkConfigured(t, g)
}

// An interface created after Set is served once it appears, and again after it is deleted
// and created anew (a new ifindex).
func TestInterfaceAppearsLater(t *testing.T) {
	needNetns(t)
	serve(t, Config{}, []Lease{lease("tap1")})
	time.Sleep(1500 * time.Millisecond) // at least one reconcile finds no tap1
	for round := 0; round < 2; round++ {
		g := newGuest(t)
		link(t, g, "tap1", guestMAC)
		if out, err := g.dhcp(5); err != nil {
			t.Fatalf("round %d: udhcpc: %v\n%s", round, err, out)
		}
		checkConfigured(t, g)
		host(t, "ip", "link", "del", "tap1")
	}
}

// With an IPv6 address in the lease the guest learns the default router fe80::1 and the
// MTU from router advertisements, and resolves fe80::1 to the tap's MAC.
func TestRouterAdvertisement(t *testing.T) {
	needNetns(t)
	g := newGuest(t)
	l := lease("tap0")
	l.IPv6 = netip.MustParseAddr("fd00::3")
	g.must("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/accept_ra")
	link(t, g, "tap0", guestMAC)
	serve(t, Config{AdvertInterval: time.Hour}, []Lease{l})
	eventually(t, 15*time.Second, func() error {
		routes := g.must("ip", "-6", "route", "show", "default")
		if !strings.Contains(routes, "default via fe80::1 dev eth0") {
			return fmt.Errorf("no default route via fe80::1 from router advertisements: %q", routes)
		}
		return nil
	})
	if mtu := strings.TrimSpace(g.must("cat", "/proc/sys/net/ipv6/conf/eth0/mtu")); mtu != "1400" {
		t.Errorf("guest IPv6 MTU: want 1400, have %s", mtu)
	}
	tap, err := net.InterfaceByName("tap0")
	if err != nil {
		t.Fatal(err)
	}
	// The ping has no answer (nothing owns fe80::1 on the host); it makes the guest solicit.
	exec.Command("nsenter", "-t", fmt.Sprint(g.pid), "-n", "ping", "-6", "-c", "1", "-W", "1", "fe80::1%eth0").Run()
	eventually(t, 5*time.Second, func() error {
		neigh := g.must("ip", "-6", "neigh", "show", "fe80::1", "dev", "eth0")
		if !strings.Contains(neigh, "lladdr "+tap.HardwareAddr.String()) {
			return fmt.Errorf("fe80::1 not resolved to the tap's MAC %s: %q", tap.HardwareAddr, neigh)
		}
		return nil
	})
}
