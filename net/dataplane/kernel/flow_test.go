package kernel

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Two hypervisors joined by a veth underlay; behind each, a guest in VNI 100 and one in VNI
// 200 (the same address in both VNIs on hv1, to show the tables are separate).
//
//	g1a 10.0.0.1 (vni 100) ─ fra ┐                ┌ frc ─ g2a 10.0.0.2 (vni 100)
//	g1b 10.0.0.1 (vni 200) ─ frb ┴ hv1 192.0.2.1 ─ hv2 192.0.2.2 ┴ frd ─ g2b 10.0.0.3 (vni 200)
//	                                               (also 192.0.2.3: not a VTEP)
func TestPacketsFlowAndIsolation(t *testing.T) {
	needRoot(t)
	hv1, hv2, d1, d2 := hypervisors(t)
	addAddr(t, hv2, "u2", "192.0.2.3/24")
	g1a := newGuest(t, hv1, "fra", "10.0.0.1")
	g1b := newGuest(t, hv1, "frb", "10.0.0.1")
	newGuest(t, hv2, "frc", "10.0.0.2")
	g2b := newGuest(t, hv2, "frd", "10.0.0.3")
	vtep1, vtep2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	// Each host's state: its interfaces, the other's addresses as routes, the other as VTEP.
	s1 := dataplane.State{
		Interfaces: []dataplane.Interface{iface("fra", 100, "10.0.0.1/32"), iface("frb", 200, "10.0.0.1/32")},
		Routes: []route.Route{rt(100, "10.0.0.2/32", "192.0.2.2", route.KindStandard),
			rt(200, "10.0.0.3/32", "192.0.2.2", route.KindStandard)},
		VTEPs: []netip.Addr{vtep2},
	}
	s2 := dataplane.State{
		Interfaces: []dataplane.Interface{iface("frc", 100, "10.0.0.2/32"), iface("frd", 200, "10.0.0.3/32")},
		Routes: []route.Route{rt(100, "10.0.0.1/32", "192.0.2.1", route.KindStandard),
			rt(200, "10.0.0.1/32", "192.0.2.1", route.KindStandard)},
		VTEPs: []netip.Addr{vtep1},
	}
	hv1.mustApply(d1, s1)
	hv2.mustApply(d2, s2)

	if !g1a.ping("10.0.0.2") {
		t.Error("g1a cannot ping g2a in the same VNI on the other host")
	}
	if !g2b.ping("10.0.0.1") {
		t.Error("g2b cannot ping g1b in the same VNI on the other host")
	}
	for _, c := range []struct{ what, addr string }{
		{"its host's underlay address", "192.0.2.1"},
		{"the other host's underlay address", "192.0.2.2"},
		{"a guest in another VNI", "10.0.0.3"},
	} {
		if g1a.ping(c.addr) {
			t.Errorf("g1a reaches %s (%s)", c.what, c.addr)
		}
	}

	// A crafted VXLAN packet for VNI 200 carrying UDP to g1b: delivered when a known VTEP sends
	// it (so the packet is right), dropped from an unknown underlay address and from a guest.
	got := listenUDP(t, g1b, 7777)
	inner := vxlanFrame(200, RouterMAC(vtep1), netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.1"), 7777)
	sendUDP(t, hv2, "192.0.2.2", "192.0.2.1:4789", inner)
	if !received(got) {
		t.Fatal("a VXLAN packet from a known VTEP was not delivered: the crafted packet is wrong")
	}
	sendUDP(t, hv2, "192.0.2.3", "192.0.2.1:4789", inner)
	if received(got) {
		t.Error("a VXLAN packet from an unknown VTEP was delivered")
	}
	sendUDP(t, g1a, "10.0.0.1", "192.0.2.1:4789", inner)
	if received(got) {
		t.Error("a guest's VXLAN packet to its host's port reached another VNI")
	}
	sendUDP(t, hv2, "192.0.2.2", "192.0.2.1:4789", inner)
	if !received(got) {
		t.Error("the known VTEP's packet stopped being delivered")
	}

	// hv2 stops being a VTEP for hv1: its packets are dropped too.
	s1.VTEPs = nil
	hv1.mustApply(d1, s1)
	sendUDP(t, hv2, "192.0.2.2", "192.0.2.1:4789", inner)
	if received(got) {
		t.Error("VXLAN from a VTEP removed from the state was delivered")
	}
	s1.VTEPs = []netip.Addr{vtep2}

	// A tap name reused in another VNI: frb moves from VNI 200 to 100 (and its guest now
	// reaches g2a, not g2b).
	s1.Interfaces[1] = iface("frb", 100, "10.0.0.5/32")
	s1.Interfaces = s1.Interfaces[:2]
	addAddr(t, g1b, "eth0", "10.0.0.5/32")
	s2.Routes = append(s2.Routes, rt(100, "10.0.0.5/32", "192.0.2.1", route.KindStandard))
	hv1.mustApply(d1, s1)
	hv2.mustApply(d2, s2)
	if _, err := g1b.run("ping", "-c1", "-W1", "-I", "10.0.0.5", "10.0.0.2"); err != nil {
		t.Error("after moving frb to VNI 100 its guest cannot reach g2a")
	}
	if _, err := g1b.run("ping", "-c1", "-W1", "-I", "10.0.0.5", "10.0.0.3"); err == nil {
		t.Error("after moving frb out of VNI 200 its guest still reaches g2b")
	}
}

// listenUDP opens a UDP socket in n (IPv4 and IPv6) and delivers what it receives.
func listenUDP(t *testing.T, n *node, port int) <-chan []byte {
	t.Helper()
	var c *net.UDPConn
	var err error
	n.do(func() { c, err = net.ListenUDP("udp", &net.UDPAddr{Port: port}) })
	if err != nil {
		t.Fatalf("%s: listen: %v", n.name, err)
	}
	t.Cleanup(func() { c.Close() })
	out := make(chan []byte, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			k, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			out <- append([]byte(nil), buf[:k]...)
		}
	}()
	return out
}

func received(c <-chan []byte) bool {
	select {
	case <-c:
		return true
	case <-time.After(500 * time.Millisecond):
		return false
	}
}

// sendUDP sends one datagram from n, from address src, to dst (IPv4 or IPv6).
func sendUDP(t *testing.T, n *node, src, dst string, payload []byte) {
	t.Helper()
	var err error
	n.do(func() {
		var c *net.UDPConn
		c, err = net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
		if err == nil {
			_, err = c.Write(payload)
			c.Close()
		}
	})
	if err != nil {
		t.Logf("%s: send to %s: %v (counts as not delivered)", n.name, dst, err)
	}
}

// vxlanFrame builds a VXLAN payload: header with vni, Ethernet to dstMAC, IPv4 src→dst, UDP
// to port with a short body.
func vxlanFrame(vni uint32, dstMAC net.HardwareAddr, src, dst netip.Addr, port uint16) []byte {
	body := []byte("ferrite")
	udp := make([]byte, 8+len(body))
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], port)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], body) // checksum 0: none, allowed over IPv4
	ip := make([]byte, 20, 20+len(udp))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	frame := append([]byte{8, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}, dstMAC...)
	frame = append(frame, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00)
	return append(append(frame, ip...), udp...)
}
