// Package dhcp gives guests their addresses: it answers DHCPv4 and IPv6 router and
// neighbour solicitations on each machine's tap, and sends periodic router advertisements.
// It works on packet sockets bound to the taps, so the host needs no IP socket reachable
// from guests and the firewall may drop all IP input from them.
//
// The caller hands Set the whole desired set of leases; the Server starts a responder per
// interface once the interface exists, restarts it when the interface is recreated, and
// stops it when no lease names the interface any more.
package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Lease is what one guest NIC gets on its interface.
type Lease struct {
	// Interface is the host-side device (the tap) the guest is attached to.
	Interface string
	// MAC is the guest's hardware address; only DHCP messages from it are answered.
	MAC net.HardwareAddr
	// IPv4 is the address handed out, as a /32.
	IPv4 netip.Addr
	// IPv6 is the guest's address, optional; when set the interface gets router
	// advertisements.
	IPv6 netip.Addr
	// Hostname is sent as option 12 when not empty.
	Hostname string
	// MTU is sent as option 26 and in router advertisements when positive.
	MTU int
}

// Config configures a Server.
type Config struct {
	// Gateway is the guests' router and the DHCP server identifier; 169.254.1.1 when zero.
	Gateway netip.Addr
	// GatewayIPv6 is the link-local address router advertisements come from; fe80::1
	// when zero.
	GatewayIPv6 netip.Addr
	// LeaseTime is the lease duration; 1 h when zero.
	LeaseTime time.Duration
	// DNS servers sent as option 6 (IPv4 ones only), optional.
	DNS []netip.Addr
	// AdvertInterval is how often router advertisements are sent unsolicited; 60 s when zero.
	AdvertInterval time.Duration
	// Logger receives the server's messages; slog.Default when nil.
	Logger *slog.Logger
}

// Server answers guests on their interfaces. Create it with New, drive it with Set, and
// run it with Run.
type Server struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu     sync.Mutex
	leases map[string]map[string]Lease // interface → MAC → lease

	closeOnce sync.Once
	closed    chan struct{}
}

// New returns a Server with cfg's defaults filled in; it serves nothing until Run.
func New(cfg Config) *Server {
	if !cfg.Gateway.IsValid() {
		cfg.Gateway = netip.MustParseAddr("169.254.1.1")
	}
	if !cfg.GatewayIPv6.IsValid() {
		cfg.GatewayIPv6 = netip.MustParseAddr("fe80::1")
	}
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = time.Hour
	}
	if cfg.AdvertInterval <= 0 {
		cfg.AdvertInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "dhcp"),
		wake:   make(chan struct{}, 1),
		leases: map[string]map[string]Lease{},
		closed: make(chan struct{}),
	}
}

// Set replaces the whole desired set of leases. Leases that are not usable (no interface,
// no Ethernet MAC, no IPv4 address) are logged and left out. Responders follow on the
// next reconcile, which Set triggers at once.
func (s *Server) Set(leases []Lease) {
	next := map[string]map[string]Lease{}
	for _, l := range leases {
		if err := l.validate(); err != nil {
			s.log.Error("lease left out", "interface", l.Interface, "mac", l.MAC.String(), "err", err)
			continue
		}
		l.MAC = append(net.HardwareAddr(nil), l.MAC...)
		if next[l.Interface] == nil {
			next[l.Interface] = map[string]Lease{}
		}
		next[l.Interface][l.MAC.String()] = l
	}
	s.mu.Lock()
	s.leases = next
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (l Lease) validate() error {
	switch {
	case l.Interface == "":
		return fmt.Errorf("lease for %s names no interface", l.IPv4)
	case len(l.MAC) != 6:
		return fmt.Errorf("lease on %s: MAC %q is not an Ethernet address", l.Interface, l.MAC)
	case !l.IPv4.Is4():
		return fmt.Errorf("lease on %s: IPv4 address %s is not IPv4", l.Interface, l.IPv4)
	case l.IPv6.IsValid() && !l.IPv6.Is6():
		return fmt.Errorf("lease on %s: IPv6 address %s is not IPv6", l.Interface, l.IPv6)
	case l.MTU < 0 || l.MTU > 65535:
		return fmt.Errorf("lease on %s: MTU %d out of range", l.Interface, l.MTU)
	}
	return nil
}

// leaseFor returns the lease for mac on interface name.
func (s *Server) leaseFor(name string, mac net.HardwareAddr) (Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[name][mac.String()]
	return l, ok
}

// advertMTU reports whether the interface has a lease with IPv6 (so it gets router
// advertisements) and the MTU to advertise (the largest MTU of those leases).
func (s *Server) advertMTU(name string) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v6, mtu := false, 0
	for _, l := range s.leases[name] {
		if l.IPv6.IsValid() {
			v6, mtu = true, max(mtu, l.MTU)
		}
	}
	return v6, mtu
}

// Run serves until ctx ends or Close is called, then stops every responder and returns
// nil. Each second (and at once after Set) it starts responders for interfaces that
// appeared and restarts those whose interface went away or was recreated.
func (s *Server) Run(ctx context.Context) error {
	running := map[string]*responder{}
	failed := map[string]string{} // interface → last error logged, so each is logged once
	defer func() {
		for _, r := range running {
			r.stop()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.reconcile(running, failed)
		select {
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return nil
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// Close stops Run; it is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// reconcile makes the running responders match the desired interfaces that exist.
func (s *Server) reconcile(running map[string]*responder, failed map[string]string) {
	ifaces, err := net.Interfaces()
	if err != nil {
		s.log.Error("list interfaces", "err", err)
		return
	}
	exist := map[string]net.Interface{}
	for _, ifc := range ifaces {
		exist[ifc.Name] = ifc
	}
	s.mu.Lock()
	want := map[string]bool{}
	for name := range s.leases {
		want[name] = true
	}
	s.mu.Unlock()

	for name, r := range running {
		ifc, ok := exist[name]
		if want[name] && ok && ifc.Index == r.ifindex && !r.dead() {
			continue
		}
		r.stop()
		delete(running, name)
		s.log.Info("responder stopped", "interface", name)
	}
	for name := range failed {
		if !want[name] {
			delete(failed, name)
		}
	}
	for name := range want {
		if running[name] != nil {
			continue
		}
		ifc, ok := exist[name]
		if !ok {
			continue // not created yet: retried on the next tick
		}
		r, err := s.start(ifc)
		if err != nil {
			if msg := err.Error(); failed[name] != msg {
				failed[name] = msg
				s.log.Error("start responder", "interface", name, "err", err)
			}
			continue
		}
		delete(failed, name)
		running[name] = r
		s.log.Info("responder started", "interface", name, "ifindex", ifc.Index)
	}
}
