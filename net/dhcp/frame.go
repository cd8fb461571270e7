package dhcp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// Ethernet types and IP protocol numbers the responders look at.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	protoUDP      = 17
	protoICMPv6   = 58
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// udp4 is a received IPv4/UDP datagram with the addresses it came with.
type udp4 struct {
	srcMAC, dstMAC   net.HardwareAddr
	src, dst         netip.Addr
	srcPort, dstPort uint16
	payload          []byte
}

// parseUDP4 decodes an Ethernet frame carrying an unfragmented IPv4 UDP datagram.
func parseUDP4(frame []byte) (udp4, error) {
	var d udp4
	if len(frame) < ethHeaderLen+ipv4HeaderLen+udpHeaderLen {
		return d, errors.New("frame too short for IPv4/UDP")
	}
	if binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv4 {
		return d, errors.New("not IPv4")
	}
	ip := frame[ethHeaderLen:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < ipv4HeaderLen || total < ihl+udpHeaderLen || total > len(ip) {
		return d, errors.New("bad IPv4 header")
	}
	if ip[9] != protoUDP || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return d, errors.New("not an unfragmented UDP datagram")
	}
	udp := ip[ihl:total]
	length := int(binary.BigEndian.Uint16(udp[4:]))
	if length < udpHeaderLen || length > len(udp) {
		return d, errors.New("bad UDP length")
	}
	d.dstMAC = net.HardwareAddr(frame[0:6])
	d.srcMAC = net.HardwareAddr(frame[6:12])
	d.src = netip.AddrFrom4([4]byte(ip[12:16]))
	d.dst = netip.AddrFrom4([4]byte(ip[16:20]))
	d.srcPort = binary.BigEndian.Uint16(udp[0:])
	d.dstPort = binary.BigEndian.Uint16(udp[2:])
	d.payload = udp[udpHeaderLen:length]
	return d, nil
}

// buildUDP4 returns a full Ethernet/IPv4/UDP frame.
func buildUDP4(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	f := make([]byte, ethHeaderLen+ipv4HeaderLen+udpHeaderLen+len(payload))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)

	ip := f[ethHeaderLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8] = 64 // TTL
	ip[9] = protoUDP
	s, d := src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], ^uint16(checksum(0, ip[:ipv4HeaderLen])))

	udp := ip[ipv4HeaderLen:]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[udpHeaderLen:], payload)
	sum := checksum(0, s[:])
	sum = checksum(sum, d[:])
	sum += protoUDP + uint32(len(udp))
	c := ^uint16(checksum(sum, udp))
	if c == 0 {
		c = 0xffff // zero means "no checksum" in UDP over IPv4
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return f
}

// icmp6 is a received ICMPv6 message with the addresses it came with.
type icmp6 struct {
	srcMAC   net.HardwareAddr
	src, dst netip.Addr
	hopLimit uint8
	body     []byte // from the ICMPv6 type on
}

// parseICMP6 decodes an Ethernet frame carrying ICMPv6 directly after the IPv6 header.
func parseICMP6(frame []byte) (icmp6, error) {
	var m icmp6
	if len(frame) < ethHeaderLen+ipv6HeaderLen+4 {
		return m, errors.New("frame too short for ICMPv6")
	}
	if binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv6 {
		return m, errors.New("not IPv6")
	}
	ip := frame[ethHeaderLen:]
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if ip[0]>>4 != 6 || ip[6] != protoICMPv6 || ipv6HeaderLen+plen > len(ip) || plen < 4 {
		return m, errors.New("not a plain ICMPv6 packet")
	}
	m.srcMAC = net.HardwareAddr(frame[6:12])
	m.src = netip.AddrFrom16([16]byte(ip[8:24]))
	m.dst = netip.AddrFrom16([16]byte(ip[24:40]))
	m.hopLimit = ip[7]
	m.body = ip[ipv6HeaderLen : ipv6HeaderLen+plen]
	if ^uint16(checksum(pseudo6(m.src, m.dst, len(m.body)), m.body)) != 0 {
		return m, errors.New("bad ICMPv6 checksum")
	}
	return m, nil
}

// buildICMP6 returns a full Ethernet/IPv6/ICMPv6 frame with hop limit 255 (as neighbour
// discovery requires); body starts at the ICMPv6 type and its checksum field is filled in.
func buildICMP6(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, body []byte) []byte {
	f := make([]byte, ethHeaderLen+ipv6HeaderLen+len(body))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv6)
	ip := f[ethHeaderLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(body)))
	ip[6] = protoICMPv6
	ip[7] = 255
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	icmp := ip[ipv6HeaderLen:]
	copy(icmp, body)
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], ^uint16(checksum(pseudo6(src, dst, len(icmp)), icmp)))
	return f
}

// multicastMAC is the Ethernet address an IPv6 multicast group maps to (RFC 2464).
func multicastMAC(group netip.Addr) net.HardwareAddr {
	a := group.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// pseudo6 is the partial sum of the IPv6 pseudo-header for an ICMPv6 message.
func pseudo6(src, dst netip.Addr, length int) uint32 {
	s, d := src.As16(), dst.As16()
	sum := checksum(0, s[:])
	sum = checksum(sum, d[:])
	return sum + uint32(length) + protoICMPv6
}

// checksum adds b to the running ones' complement sum and returns it folded to 16 bits;
// callers complement the final value.
func checksum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum
}
