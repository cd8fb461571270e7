package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// DHCP message types (option 53).
const (
	msgDiscover = 1
	msgOffer    = 2
	msgRequest  = 3
	msgDecline  = 4
	msgAck      = 5
	msgNak      = 6
	msgRelease  = 7
	msgInform   = 8
)

// DHCP option codes this server reads or writes.
const (
	optPad          = 0
	optSubnetMask   = 1
	optRouter       = 3
	optDNS          = 6
	optHostname     = 12
	optMTU          = 26
	optRequestedIP  = 50
	optLeaseTime    = 51
	optMessageType  = 53
	optServerID     = 54
	optRenewalTime  = 58
	optRebindTime   = 59
	optStaticRoutes = 121
	optEnd          = 255
)

const (
	serverPort = 67
	clientPort = 68
	// fixedLen is the BOOTP header up to and including the magic cookie.
	fixedLen = 240
	// minLen is the smallest BOOTP message some clients accept.
	minLen        = 300
	flagBroadcast = 0x8000
)

var magicCookie = [4]byte{99, 130, 83, 99}

// message is a decoded DHCPv4 message: the header fields and the options as raw values.
type message struct {
	op      byte
	xid     uint32
	flags   uint16
	ciaddr  netip.Addr
	yiaddr  netip.Addr
	giaddr  netip.Addr
	chaddr  net.HardwareAddr
	options map[byte][]byte
}

// typ is the message type (option 53), 0 when absent.
func (m *message) typ() byte {
	if v := m.options[optMessageType]; len(v) == 1 {
		return v[0]
	}
	return 0
}

// addr reads an option holding one IPv4 address; the zero Addr when absent or malformed.
func (m *message) addr(code byte) netip.Addr {
	if v := m.options[code]; len(v) == 4 {
		return netip.AddrFrom4([4]byte(v))
	}
	return netip.Addr{}
}

// parseMessage decodes a BOOTP/DHCP message from a client (Ethernet hardware addresses only).
func parseMessage(b []byte) (*message, error) {
	if len(b) < fixedLen {
		return nil, fmt.Errorf("DHCP message of %d bytes is too short", len(b))
	}
	if b[1] != 1 || b[2] != 6 {
		return nil, fmt.Errorf("DHCP hardware type %d length %d is not Ethernet", b[1], b[2])
	}
	if [4]byte(b[236:240]) != magicCookie {
		return nil, errors.New("DHCP magic cookie missing")
	}
	m := &message{
		op:      b[0],
		xid:     binary.BigEndian.Uint32(b[4:]),
		flags:   binary.BigEndian.Uint16(b[10:]),
		ciaddr:  netip.AddrFrom4([4]byte(b[12:16])),
		yiaddr:  netip.AddrFrom4([4]byte(b[16:20])),
		giaddr:  netip.AddrFrom4([4]byte(b[24:28])),
		chaddr:  net.HardwareAddr(append([]byte(nil), b[28:34]...)),
		options: map[byte][]byte{},
	}
	opts := b[fixedLen:]
	for len(opts) > 0 {
		code := opts[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return nil, fmt.Errorf("DHCP option %d runs past the message", code)
		}
		// Options may be split in several parts (RFC 3396): concatenate them.
		m.options[code] = append(m.options[code], opts[2:2+int(opts[1])]...)
		opts = opts[2+int(opts[1]):]
	}
	return m, nil
}

// encode renders a server reply (op 2) with options in the order given.
func (m *message) encode(options []option) []byte {
	b := make([]byte, fixedLen, minLen)
	b[0] = 2
	b[1], b[2] = 1, 6
	binary.BigEndian.PutUint32(b[4:], m.xid)
	binary.BigEndian.PutUint16(b[10:], m.flags)
	putAddr(b[12:16], m.ciaddr)
	putAddr(b[16:20], m.yiaddr)
	putAddr(b[24:28], m.giaddr)
	copy(b[28:44], m.chaddr)
	copy(b[236:240], magicCookie[:])
	for _, o := range options {
		v := o.value
		for first := true; first || len(v) > 0; first = false {
			n := min(len(v), 255)
			b = append(b, o.code, byte(n))
			b = append(b, v[:n]...)
			v = v[n:]
		}
	}
	b = append(b, optEnd)
	for len(b) < minLen {
		b = append(b, optPad)
	}
	return b
}

// option is one DHCP option to send.
type option struct {
	code  byte
	value []byte
}

func putAddr(dst []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(dst, v[:])
	}
}

func addrOption(code byte, addrs ...netip.Addr) option {
	o := option{code: code}
	for _, a := range addrs {
		v := a.As4()
		o.value = append(o.value, v[:]...)
	}
	return o
}

func u32Option(code byte, v uint32) option {
	return option{code: code, value: binary.BigEndian.AppendUint32(nil, v)}
}

// classlessRoutes encodes option 121 (RFC 3442): for each route the prefix length, the
// significant octets of the destination, then the router (0.0.0.0 means on-link).
func classlessRoutes(routes []staticRoute) option {
	o := option{code: optStaticRoutes}
	for _, r := range routes {
		bits := r.dst.Bits()
		d := r.dst.Masked().Addr().As4()
		o.value = append(o.value, byte(bits))
		o.value = append(o.value, d[:(bits+7)/8]...)
		g := r.via.As4()
		o.value = append(o.value, g[:]...)
	}
	return o
}

// staticRoute is one classless static route: dst via a router, or on-link when via is 0.0.0.0.
type staticRoute struct {
	dst netip.Prefix
	via netip.Addr
}
