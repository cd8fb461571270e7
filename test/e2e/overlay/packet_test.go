//go:build e2e

package overlay

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// vxlanEcho is a VXLAN datagram's payload for vni carrying an ICMP echo request from src to
// dst, framed for the router MAC of the hypervisor at underlay (the kernel dataplane derives it
// from the address: 02:fe and the IPv4 address).
func vxlanEcho(vni uint32, underlay, src, dst string) []byte {
	u := netip.MustParseAddr(underlay).As4()
	b := []byte{0x08, 0, 0, 0, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	b = append(b, 0x02, 0xfe, u[0], u[1], u[2], u[3]) // inner destination: the router MAC
	b = append(b, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00) // inner source, IPv4
	ipHeader := []byte{0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0}
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	ipHeader = append(append(ipHeader, s[:]...), d[:]...)
	binary.BigEndian.PutUint16(ipHeader[10:], checksum(ipHeader))
	icmp := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return append(append(b, ipHeader...), icmp...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// sendUDP sends one datagram from inside network namespace ns.
func sendUDP(t *testing.T, ns, to string, port int, payload []byte) {
	t.Helper()
	errs := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		handle, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(handle)
			handle.Close()
		}
		if err == nil {
			var conn net.Conn
			if conn, err = net.Dial("udp4", net.JoinHostPort(to, strconv.Itoa(port))); err == nil {
				_, err = conn.Write(payload)
				conn.Close()
			}
		}
		errs <- err
	}()
	if err := <-errs; err != nil {
		t.Fatalf("sending UDP from %s: %v", ns, err)
	}
}

// rxPackets is a device's received-packet counter in network namespace ns.
func rxPackets(t *testing.T, ns, device string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+device+"/statistics/rx_packets").CombinedOutput()
	if err != nil {
		t.Fatalf("rx_packets of %s in %s: %v: %s", device, ns, err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
