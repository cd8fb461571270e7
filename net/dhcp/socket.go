package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// packetConn is an AF_PACKET socket bound to one interface that receives only DHCP requests
// (UDP to port 67), router solicitations and neighbour solicitations. Frames are read before
// netfilter sees them, so the host needs no IP socket reachable from guests.
type packetConn struct {
	ifindex int
	file    *os.File
	raw     syscall.RawConn
}

// filter is a classic BPF program that keeps IPv4 UDP to port 67 (unfragmented) and ICMPv6
// router and neighbour solicitations (no extension headers), so the responder never copies
// the guest's ordinary traffic.
var filter = []unix.SockFilter{
	/* 0 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12}, // ethertype
	/* 1 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: etherTypeIPv4, Jt: 0, Jf: 7}, // → 9
	/* 2 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 14 + 9}, // IPv4 protocol
	/* 3 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: protoUDP, Jt: 0, Jf: 12}, // → 16
	/* 4 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 14 + 6}, // flags, fragment offset
	/* 5 */ {Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: 0x1fff, Jt: 10, Jf: 0}, // → 16
	/* 6 */ {Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 14}, // X = IPv4 header length
	/* 7 */ {Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 14 + 2}, // UDP destination port
	/* 8 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: serverPort, Jt: 6, Jf: 7}, // → 15, 16
	/* 9 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: etherTypeIPv6, Jt: 0, Jf: 6}, // → 16
	/* 10 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 14 + 6}, // IPv6 next header
	/* 11 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: protoICMPv6, Jt: 0, Jf: 4}, // → 16
	/* 12 */ {Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 14 + 40}, // ICMPv6 type
	/* 13 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: icmpRouterSolicit, Jt: 1, Jf: 0}, // → 15
	/* 14 */ {Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: icmpNeighborSolicit, Jt: 0, Jf: 1}, // → 15, 16
	/* 15 */ {Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},
	/* 16 */ {Code: unix.BPF_RET | unix.BPF_K, K: 0},
}

// listen opens the packet socket on the interface with index ifindex. The socket is
// created with protocol 0 (it receives nothing), given its filter, and only then bound, so
// no unfiltered frame is ever queued.
func listen(ifindex int) (*packetConn, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach packet filter: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to interface %d: %w", ifindex, err)
	}
	// Through os.File the socket uses Go's poller, so Close wakes a blocked read.
	file := os.NewFile(uintptr(fd), fmt.Sprintf("packet:%d", ifindex))
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	return &packetConn{ifindex: ifindex, file: file, raw: raw}, nil
}

// read returns the next frame received by the interface (frames the host sends are
// skipped). It fails with errClosed after close.
func (c *packetConn) read(buf []byte) (int, error) {
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := c.raw.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return 0, errClosed
		}
		if rerr != nil {
			return 0, rerr
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return n, nil
	}
}

// write sends a complete Ethernet frame out of the interface.
func (c *packetConn) write(frame []byte) error {
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		to := &unix.SockaddrLinklayer{Ifindex: c.ifindex, Protocol: htons(binary.BigEndian.Uint16(frame[12:]))}
		werr = unix.Sendto(int(fd), frame, 0, to)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return errClosed
	}
	return werr
}

func (c *packetConn) close() error { return c.file.Close() }

var errClosed = errors.New("packet socket closed")

func htons(v uint16) uint16 { return v<<8 | v>>8 }
