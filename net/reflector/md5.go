package reflector

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// MD5Supported reports whether a listener of this process can sign TCP segments (TCP_MD5SIG,
// RFC 2385) for a prefix of peers, as GoBGP sets it for dynamic neighbours. GoBGP only logs a
// warning when it cannot and then accepts unsigned sessions, so a reflector with a password
// refuses to start without it. Two causes: a kernel without CONFIG_TCP_MD5SIG, and Go's
// listeners using multipath TCP (the default since Go 1.24 where the kernel has it), which has
// no TCP-MD5: commands that use passwords set //go:debug multipathtcp=0.
func MD5Supported() error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("tcp-md5 probe: %w", err)
	}
	defer ln.Close()
	sc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return fmt.Errorf("tcp-md5 probe: %w", err)
	}
	sig := unix.TCPMD5Sig{Keylen: 4, Flags: unix.TCP_MD5SIG_FLAG_PREFIX, Prefixlen: 8}
	sig.Addr.Family = unix.AF_INET
	copy(sig.Addr.Data[2:], []byte{127, 0, 0, 0})
	copy(sig.Key[:], "test")
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG_EXT, &sig)
	}); err != nil {
		return fmt.Errorf("tcp-md5 probe: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("this process cannot sign BGP sessions with TCP-MD5 (kernel without CONFIG_TCP_MD5SIG, or a multipath TCP listener: GODEBUG=multipathtcp=0): %w", serr)
	}
	return nil
}
