// Package kernel is the default dataplane: it programs Linux through netlink and nftables.
//
// Each VNI gets a VXLAN device (fvx<VNI>, learning off, the router MAC derived from the
// underlay address) and a routing table (TableBase+VNI) that ends in throw defaults.
// Policy rules at RulePriority send traffic arriving on the VNI's local interfaces and on its
// VXLAN device to that table, and a terminal `unreachable` rule per device at RulePriority+2
// catches what the table throws back; the kernel's `lookup local` rule is moved behind them (to
// LocalRulePriority), so a machine can never reach the host's own addresses. A remote prefix is
// a route in the VNI's table to the remote hypervisors' underlay addresses, on link through the
// VXLAN device (ECMP when several); a permanent neighbour entry and a forwarding entry map each
// remote hypervisor to its router MAC, so no ARP ever crosses the overlay. A VNI that peers
// with another (State.Peerings) also routes, in its own table, the other VNI's local addresses
// to their interfaces and its remote prefixes through the other VNI's VXLAN device, so packets
// travel in the VNI of their destination; the VNI's own prefixes win. The nftables table
// `inet ferrite` drops input from machines and VXLAN from hosts that are not known VTEPs, and,
// before conntrack, every packet of a machine whose source is not one of its interface's
// addresses (anti-spoofing).
//
// Public services (State.PublicVNI: VirtualIPs, NAT shares, load-balancer targets) route an
// interface's traffic that its own table throws back in the public VNI's table, translate it
// with nftables (DNAT/SNAT, marks that route replies back into the tenant's table) and steer
// replies to other hosts' NAT port ranges with per-next-hop marks and tables.
//
// Apply is level-triggered: it lists what the kernel has, adds what the state wants and removes
// whatever Ferrite made that the state does not want. Ferrite's routes and rules carry route
// protocol Protocol; its tables are TableBase+1..TableBase+MaxVNI (one per VNI) and, after
// them, one per NAT next hop (see NATHopTable). docs/net-dataplane.md
// describes the result.
package kernel

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// MaxNATHops bounds the NAT next hops a host steers to (one mark and one table each).
const MaxNATHops = 1 << 16

// Marks route packets by their firewall mark (rules at RulePriority-1): TenantMark(v) sends a
// packet translated for a public service of VNI v to v's table; NATHopMark(k) steers a reply
// to another host's NAT port range to that host's table. Bit TenantBit is set on every packet
// that comes from a tenant's interface with public services (a steered one too), which the
// anti-spoof filter checks.
const (
	TenantBit  = 0x01000000
	natHopBit  = 0x02000000
	natHopMask = 0x02ffffff // matches a NAT hop mark with or without TenantBit
)

// TenantMark is the mark of VNI v's public traffic.
func TenantMark(v uint32) uint32 { return TenantBit | v }

// NATHopMark is the mark that steers to the k-th NAT next hop.
func NATHopMark(k int) uint32 { return natHopBit | uint32(k) }

// Protocol is the route protocol number (rtm_protocol, FRA_PROTOCOL) on every route and rule
// Ferrite makes, so they can be told apart from everyone else's ("ferrite" in rt_protos).
const Protocol = 254

// Defaults for Config.
const (
	DefaultTableBase         = 1_000_000
	DefaultRulePriority      = 100
	DefaultLocalRulePriority = 1000
	DefaultPort              = 4789
	// vxlanOverhead is what VXLAN over IPv4 adds to a frame: outer IPv4, UDP, VXLAN, inner
	// Ethernet.
	vxlanOverhead = 50
)

// Gateway is the address machines use as their default router (DHCP option 3); the VXLAN
// device routes it in every VNI so that proxy ARP answers for it.
var Gateway = netip.MustParsePrefix("169.254.1.1/32")

// Config describes the hypervisor's dataplane.
type Config struct {
	// Underlay is this hypervisor's VXLAN tunnel address (IPv4).
	Underlay netip.Addr
	// TableBase offsets the routing tables: VNI v uses table TableBase+v (DefaultTableBase
	// when zero).
	TableBase uint32
	// RulePriority is the priority of Ferrite's iif rules (DefaultRulePriority when zero).
	RulePriority int
	// LocalRulePriority is where the kernel's `lookup local` rule is moved to, after
	// Ferrite's rules (DefaultLocalRulePriority when zero).
	LocalRulePriority int
	// Port is the VXLAN UDP port (DefaultPort when zero).
	Port int
	// MTU is the overlay MTU set on VXLAN devices and local interfaces; when zero, the MTU
	// of the underlay device minus the VXLAN overhead.
	MTU int
	// Handle is the netlink handle to use; the current network namespace when nil. Sysctls
	// and nftables always act on the calling thread's network namespace.
	Handle *netlink.Handle
	// Logger receives what the dataplane does; slog.Default when nil.
	Logger *slog.Logger
}

// Dataplane programs the kernel. It is safe for concurrent use; Apply calls are serialised.
type Dataplane struct {
	cfg Config
	nl  *netlink.Handle
	log *slog.Logger

	mu sync.Mutex
	// natSeen holds the NAT routes already logged as skipped (only to log each once); it is
	// pruned to the current state on every Apply.
	natSeen    map[route.Route]struct{}
	skippedNAT int
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// New probes the kernel, refuses to start when something required is missing (saying what),
// and turns on IPv4 forwarding. Everything else happens in Apply.
func New(cfg Config) (*Dataplane, error) {
	if !cfg.Underlay.Is4() {
		return nil, fmt.Errorf("underlay address %v: the kernel dataplane needs IPv4", cfg.Underlay)
	}
	if cfg.TableBase == 0 {
		cfg.TableBase = DefaultTableBase
	}
	if uint64(cfg.TableBase)+route.MaxVNI+1+MaxNATHops > 1<<32-1 {
		return nil, fmt.Errorf("table base %d: tables for every VNI and NAT next hop do not fit in 32 bits", cfg.TableBase)
	}
	if cfg.RulePriority == 0 {
		cfg.RulePriority = DefaultRulePriority
	}
	if cfg.RulePriority < 2 {
		return nil, fmt.Errorf("rule priority %d: the mark rules need the priority below it", cfg.RulePriority)
	}
	if cfg.LocalRulePriority == 0 {
		cfg.LocalRulePriority = DefaultLocalRulePriority
	}
	if cfg.LocalRulePriority <= cfg.RulePriority+2 {
		return nil, fmt.Errorf("local rule priority %d must come after the rule priority %d",
			cfg.LocalRulePriority, cfg.RulePriority)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rep, err := Probe()
	if err != nil {
		return nil, err
	}
	if err := rep.Require(Required...); err != nil {
		return nil, fmt.Errorf("kernel dataplane unusable: %w", err)
	}
	cfg.Logger.Info("kernel probed", "features", rep.String())
	nl := cfg.Handle
	if nl == nil {
		if nl, err = netlink.NewHandle(); err != nil {
			return nil, err
		}
	}
	if err := sysctl("net/ipv4/ip_forward", "1"); err != nil {
		return nil, err
	}
	// Load-balancer and other ECMP routes spread flows by their ports too (L4 hash).
	if err := sysctl("net/ipv4/fib_multipath_hash_policy", "1"); err != nil {
		return nil, err
	}
	return &Dataplane{cfg: cfg, nl: nl, log: cfg.Logger, natSeen: map[route.Route]struct{}{}}, nil
}

// Table returns the routing table of a VNI.
func (d *Dataplane) Table(vni uint32) int { return int(d.cfg.TableBase + vni) }

// NATHopTable returns the routing table of the k-th NAT next hop (in the sorted next hops of
// other hosts' NAT routes in the public VNI): after every VNI's table.
func (d *Dataplane) NATHopTable(k int) int { return int(d.cfg.TableBase) + route.MaxVNI + 1 + k }

// ownTable reports whether a routing table is one of Ferrite's VNI or NAT next-hop tables.
func (d *Dataplane) ownTable(t int) bool {
	return t > int(d.cfg.TableBase) && t < d.NATHopTable(MaxNATHops)
}

// SkippedNAT returns how many NAT routes the last Apply left out: those outside the public
// VNI (the kernel dataplane steers NAT port ranges only there, for replies to public NAT
// addresses).
func (d *Dataplane) SkippedNAT() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.skippedNAT
}

// DeviceName returns the name of a VNI's VXLAN device.
func DeviceName(vni uint32) string { return fmt.Sprintf("fvx%d", vni) }

// RouterMAC is the MAC address a hypervisor's VXLAN devices answer to: locally administered,
// made from its IPv4 underlay address, so peers can compute it instead of learning it.
func RouterMAC(underlay netip.Addr) net.HardwareAddr {
	a := underlay.As4()
	return net.HardwareAddr{0x02, 0xfe, a[0], a[1], a[2], a[3]}
}

func sysctl(path, value string) error {
	if err := os.WriteFile("/proc/sys/"+path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", path, value, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
