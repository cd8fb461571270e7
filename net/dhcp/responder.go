package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// responder serves one interface: it answers what its packet socket receives and sends
// the periodic router advertisements.
type responder struct {
	s       *Server
	name    string
	ifindex int
	mac     net.HardwareAddr
	conn    *packetConn
	done    chan struct{} // closed when both loops have returned
	quit    chan struct{}
	failed  atomic.Bool // the read loop ended on its own: restart the responder
}

// start opens the interface's packet socket and starts its loops.
func (s *Server) start(ifc net.Interface) (*responder, error) {
	if len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %s has no Ethernet address", ifc.Name)
	}
	conn, err := listen(ifc.Index)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifc.Name, err)
	}
	r := &responder{
		s: s, name: ifc.Name, ifindex: ifc.Index, mac: ifc.HardwareAddr, conn: conn,
		done: make(chan struct{}), quit: make(chan struct{}),
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r.readLoop()
	}()
	go func() {
		defer close(r.done)
		r.advertLoop()
		<-readDone
	}()
	return r, nil
}

// dead reports whether the read loop failed, so the responder must be replaced.
func (r *responder) dead() bool { return r.failed.Load() }

// stop closes the socket and waits for the loops to end.
func (r *responder) stop() {
	close(r.quit)
	r.conn.close()
	<-r.done
}

func (r *responder) readLoop() {
	buf := make([]byte, 2048)
	for {
		n, err := r.conn.read(buf)
		if errors.Is(err, errClosed) {
			return
		}
		if errors.Is(err, unix.ENETDOWN) {
			// The interface went down; the socket stays bound and works again once it
			// is up. If it was deleted, reconcile sees the index change.
			continue
		}
		if err != nil {
			r.s.log.Error("read packet socket", "interface", r.name, "err", err)
			r.failed.Store(true)
			return
		}
		if n < ethHeaderLen {
			continue
		}
		frame := buf[:n]
		switch binary.BigEndian.Uint16(frame[12:]) {
		case etherTypeIPv4:
			r.handleDHCP(frame)
		case etherTypeIPv6:
			r.handleNDP(frame)
		}
	}
}

// handleDHCP answers a DHCP message from the MAC of a lease on this interface; messages
// from any other MAC are ignored, so a guest cannot obtain another's address.
func (r *responder) handleDHCP(frame []byte) {
	d, err := parseUDP4(frame)
	if err != nil || d.dstPort != serverPort {
		return
	}
	req, err := parseMessage(d.payload)
	if err != nil || req.op != 1 {
		r.s.log.Debug("malformed DHCP message", "interface", r.name, "from", d.srcMAC.String(), "err", err)
		return
	}
	log := r.s.log.With("interface", r.name, "mac", req.chaddr.String(), "xid", req.xid)
	if req.chaddr.String() != d.srcMAC.String() {
		log.Debug("DHCP message ignored: client MAC differs from the frame's source", "source", d.srcMAC.String())
		return
	}
	if req.giaddr.IsValid() && !req.giaddr.IsUnspecified() {
		log.Debug("DHCP message ignored: relayed", "giaddr", req.giaddr)
		return
	}
	l, ok := r.s.leaseFor(r.name, req.chaddr)
	if !ok {
		log.Debug("DHCP message ignored: no lease for this MAC on this interface")
		return
	}
	rep, event := r.s.answer(req, l)
	if event != "" {
		log.Info("DHCP "+event, "type", req.typ())
	}
	if rep == nil {
		return
	}
	out := buildUDP4(r.mac, rep.dstMAC, r.s.cfg.Gateway, rep.dst, serverPort, clientPort, rep.msg)
	if err := r.conn.write(out); err != nil {
		log.Error("send DHCP reply", "type", rep.typ, "err", err)
		return
	}
	log.Debug("DHCP reply sent", "type", rep.typ, "ip", l.IPv4, "to", rep.dst)
}

// handleNDP answers router solicitations and neighbour solicitations for the gateway's
// link-local address on interfaces that have an IPv6 lease.
func (r *responder) handleNDP(frame []byte) {
	v6, mtu := r.s.advertMTU(r.name)
	if !v6 {
		return
	}
	m, err := parseICMP6(frame)
	if err != nil {
		return
	}
	if out := answerNDP(m, r.s.cfg.GatewayIPv6, r.mac, mtu); out != nil {
		if err := r.conn.write(out); err != nil {
			r.s.log.Debug("send neighbour discovery answer", "interface", r.name, "err", err)
		}
	}
}

// advertLoop sends a router advertisement to all nodes now and every AdvertInterval while
// the interface has an IPv6 lease; a send that fails (the link is down) is simply retried
// at the next interval.
func (r *responder) advertLoop() {
	t := time.NewTicker(r.s.cfg.AdvertInterval)
	defer t.Stop()
	for {
		if v6, mtu := r.s.advertMTU(r.name); v6 {
			gw := r.s.cfg.GatewayIPv6
			out := buildICMP6(r.mac, multicastMAC(allNodes), gw, allNodes, routerAdvert(r.mac, mtu))
			if err := r.conn.write(out); err != nil {
				r.s.log.Debug("send router advertisement", "interface", r.name, "err", err)
			}
		}
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
	}
}
