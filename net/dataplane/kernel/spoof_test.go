package kernel

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Guests of VNI 100 that send with sources they do not own.
//
//	g1 10.0.0.1 fd00::1  ─ fra ┐
//	g3 10.0.0.3 fd00::3  ─ frb │
//	bare (no addresses)  ─ fre ├ hv1 192.0.2.1 ─ hv2 192.0.2.2 ─ frc ─ g2 10.0.0.2
//	stray (not in state) ─ frz ┘
func TestAntiSpoof(t *testing.T) {
	needRoot(t)
	hv1, hv2, d1, d2 := hypervisors(t)
	g1 := newGuest(t, hv1, "fra", "10.0.0.1")
	g3 := newGuest(t, hv1, "frb", "10.0.0.3")
	bare := newGuest(t, hv1, "fre", "10.0.0.5")
	stray := newGuest(t, hv1, "frz", "10.0.0.6")
	g2 := newGuest(t, hv2, "frc", "10.0.0.2")
	must := func(n *node, args ...string) {
		t.Helper()
		if out, err := n.run(args...); err != nil {
			t.Fatalf("%s: %v: %s", n.name, args, out)
		}
	}
	mac := func(n *node, dev string) string {
		t.Helper()
		l, err := n.h.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().HardwareAddr.String()
	}
	// Control: before Ferrite programs hv1, a tap it does not know forwards by the main table.
	atHost := listenUDP(t, hv2, 7777)
	must(stray, "ip", "neigh", "replace", "169.254.1.1", "lladdr", mac(hv1, "frz"), "dev", "eth0")
	sendUDP(t, stray, "10.0.0.6", "192.0.2.2:7777", []byte("stray"))
	if !received(atHost) {
		t.Fatal("control: the stray guest's datagram did not reach hv2 before any Apply")
	}

	s1 := dataplane.State{
		Interfaces: []dataplane.Interface{iface("fra", 100, "10.0.0.1/32", "fd00::1/128"),
			iface("frb", 100, "10.0.0.3/32", "fd00::3/128"), iface("fre", 100)},
		Routes: []route.Route{rt(100, "10.0.0.2/32", "192.0.2.2", route.KindStandard)},
		VTEPs:  []netip.Addr{netip.MustParseAddr("192.0.2.2")},
	}
	hv1.mustApply(d1, s1)
	hv2.mustApply(d2, dataplane.State{
		Interfaces: []dataplane.Interface{iface("frc", 100, "10.0.0.2/32")},
		Routes: []route.Route{rt(100, "10.0.0.1/32", "192.0.2.1", route.KindStandard),
			rt(100, "10.0.0.3/32", "192.0.2.1", route.KindStandard),
			rt(100, "10.0.0.9/32", "192.0.2.1", route.KindStandard)},
		VTEPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
	})
	at2, at3 := listenUDP(t, g2, 7777), listenUDP(t, g3, 7777)

	// Its own address works; another guest's, on this host or the other, does not.
	sendUDP(t, g1, "10.0.0.1", "10.0.0.2:7777", []byte("own"))
	if !received(at2) {
		t.Error("g1 → g2 (other host) from its own address was dropped")
	}
	sendUDP(t, g1, "10.0.0.1", "10.0.0.3:7777", []byte("own"))
	if !received(at3) {
		t.Error("g1 → g3 (same host) from its own address was dropped")
	}
	must(g1, "ip", "addr", "add", "10.0.0.3/32", "dev", "eth0")
	sendUDP(t, g1, "10.0.0.3", "10.0.0.2:7777", []byte("spoof"))
	if received(at2) {
		t.Error("g1 reached g2 (other host) with g3's address as source")
	}
	must(g1, "ip", "addr", "del", "10.0.0.3/32", "dev", "eth0")
	must(g1, "ip", "addr", "add", "10.0.0.2/32", "dev", "eth0")
	sendUDP(t, g1, "10.0.0.2", "10.0.0.3:7777", []byte("spoof"))
	if received(at3) {
		t.Error("g1 reached g3 (same host) with g2's address as source")
	}
	must(g1, "ip", "addr", "del", "10.0.0.2/32", "dev", "eth0")

	// The next Apply decides: an address added to the interface's state is accepted.
	must(g1, "ip", "addr", "add", "10.0.0.9/32", "dev", "eth0")
	sendUDP(t, g1, "10.0.0.9", "10.0.0.2:7777", []byte("not yet"))
	if received(at2) {
		t.Error("g1 reached g2 from 10.0.0.9 before it owned it")
	}
	s1.Interfaces[0] = iface("fra", 100, "10.0.0.1/32", "10.0.0.9/32", "fd00::1/128")
	hv1.mustApply(d1, s1)
	sendUDP(t, g1, "10.0.0.9", "10.0.0.2:7777", []byte("owned"))
	if !received(at2) {
		t.Error("g1 → g2 from 10.0.0.9 dropped after it was added to the interface")
	}

	// IPv6 on the same host (static neighbours stand in for NDP): own source passes, another
	// guest's does not.
	must(g1, "ip", "-6", "addr", "add", "fd00::1/128", "dev", "eth0", "nodad")
	must(g1, "ip", "-6", "route", "add", "fd00::3/128", "dev", "eth0")
	must(g1, "ip", "-6", "neigh", "replace", "fd00::3", "lladdr", mac(hv1, "fra"), "dev", "eth0")
	must(g3, "ip", "-6", "addr", "add", "fd00::3/128", "dev", "eth0", "nodad")
	must(hv1, "ip", "-6", "neigh", "replace", "fd00::3", "lladdr", mac(g3, "eth0"), "dev", "frb")
	sendUDP(t, g1, "fd00::1", "[fd00::3]:7777", []byte("own"))
	if !received(at3) {
		t.Error("g1 → g3 over IPv6 from its own address was dropped")
	}
	must(g1, "ip", "-6", "addr", "add", "fd00::2/128", "dev", "eth0", "nodad")
	sendUDP(t, g1, "fd00::2", "[fd00::3]:7777", []byte("spoof"))
	if received(at3) {
		t.Error("g1 reached g3 over IPv6 from an address it does not own")
	}

	// An interface without addresses sends nothing, yet its DHCP request still reaches a packet
	// socket on the tap (where Ferrite's DHCP server listens).
	sendUDP(t, bare, "10.0.0.5", "10.0.0.3:7777", []byte("bare"))
	if received(at3) {
		t.Error("a guest whose interface has no addresses reached g3")
	}
	frames := capture(t, hv1, "fre")
	sendFrame(t, bare, vxlanFrame(0, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), 67)[8:])
	if !seenUDP(frames, 67) {
		t.Error("a DHCP-like broadcast from 0.0.0.0 did not reach the packet socket on fre")
	}

	// A tap the state does not know is no longer routed by the host's main table.
	sendUDP(t, stray, "10.0.0.6", "192.0.2.2:7777", []byte("stray"))
	if received(atHost) {
		t.Error("a guest behind a tap unknown to the state reached the underlay")
	}
}

// capture opens a packet socket on a device of n, as the DHCP server does, and delivers the
// frames it sees for a second.
func capture(t *testing.T, n *node, dev string) <-chan []byte {
	t.Helper()
	l, err := n.h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	proto := int( // htons(ETH_P_ALL)
		uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8)
	var fd int
	n.do(func() {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: l.Attrs().Index})
		}
		if err == nil {
			tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
			err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		}
	})
	if err != nil {
		t.Fatalf("%s: packet socket on %s: %v", n.name, dev, err)
	}
	out := make(chan []byte, 64)
	go func() {
		defer unix.Close(fd)
		defer close(out)
		buf := make([]byte, 2048)
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			if k, _, err := unix.Recvfrom(fd, buf, 0); err == nil {
				select {
				case out <- append([]byte(nil), buf[:k]...):
				default: // full: the reader has stopped
				}
			}
		}
	}()
	return out
}

// seenUDP reports whether an IPv4 UDP frame to port arrives before the capture ends.
func seenUDP(frames <-chan []byte, port uint16) bool {
	for f := range frames {
		if len(f) >= 14+20+8 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[14+9] == unix.IPPROTO_UDP &&
			binary.BigEndian.Uint16(f[14+int(f[14]&0x0f)*4+2:]) == port {
			return true
		}
	}
	return false
}

// sendFrame sends an Ethernet frame out of n's eth0 on a packet socket.
func sendFrame(t *testing.T, n *node, frame []byte) {
	t.Helper()
	l, err := n.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	n.do(func() {
		var fd int
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return
		}
		defer unix.Close(fd)
		err = unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Halen: 6,
			Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
	})
	if err != nil {
		t.Fatalf("%s: send frame: %v", n.name, err)
	}
}

// ownedPrefixes leaves out what an interval set would refuse as overlapping.
func TestOwnedPrefixes(t *testing.T) {
	pfx := netip.MustParsePrefix
	got := ownedPrefixes([]netip.Prefix{pfx("10.0.0.1/32"), pfx("fd00::1/128"), pfx("10.0.0.0/24"),
		pfx("10.0.1.1/32"), pfx("10.0.1.1/32"), pfx("fd00::/64")})
	want := []netip.Prefix{pfx("10.0.0.0/24"), pfx("10.0.1.1/32"), pfx("fd00::/64")}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
