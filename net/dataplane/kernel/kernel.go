// Package kernel is the default dataplane: it programs Linux through netlink. Each VNI gets a
// VXLAN device (fvx<VNI>) and a routing table; policy rules send traffic arriving on the VNI's
// local interfaces and on its VXLAN device to that table, which isolates VNIs without VRF
// devices. A remote prefix is a route in the VNI's table to the remote hypervisor's address,
// on link through the VXLAN device; a permanent neighbor entry and a forwarding entry map that
// address to the remote hypervisor's router MAC, derived from its underlay address, so no
// ARP ever crosses the overlay.
package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Config describes the hypervisor's dataplane.
type Config struct {
	// Underlay is this hypervisor's VXLAN tunnel address (IPv4).
	Underlay netip.Addr
	// TableBase offsets the routing tables: VNI v uses table TableBase+v (1,000,000 when zero).
	TableBase uint32
	// RulePriority is the priority of the policy rules (1000 when zero); it must come before
	// the main table's rule (32766).
	RulePriority int
	// Port is the VXLAN UDP port (4789 when zero).
	Port int
	// Handle is the netlink handle to use; the current network namespace when nil.
	Handle *netlink.Handle
	// Logger receives what the dataplane does; slog.Default when nil.
	Logger *slog.Logger
}

// Dataplane programs the kernel. It is safe for concurrent use.
type Dataplane struct {
	cfg Config
	nl  *netlink.Handle
	log *slog.Logger

	mu         sync.Mutex
	interfaces map[string]dataplane.Interface
	nexthops   map[prefixKey]map[netip.Addr]route.Route // installed next hops per (VNI, prefix)
	neighbors  map[neighborKey]int                      // routes using a remote hypervisor
}

type prefixKey struct {
	vni    uint32
	prefix netip.Prefix
}

type neighborKey struct {
	vni uint32
	hop netip.Addr
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// New probes the kernel, refuses to start when something required is missing (saying what),
// and turns on forwarding.
func New(cfg Config) (*Dataplane, error) {
	if !cfg.Underlay.Is4() {
		return nil, fmt.Errorf("underlay address %v: the kernel dataplane needs IPv4", cfg.Underlay)
	}
	if cfg.TableBase == 0 {
		cfg.TableBase = 1_000_000
	}
	if cfg.RulePriority == 0 {
		cfg.RulePriority = 1000
	}
	if cfg.Port == 0 {
		cfg.Port = 4789
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
	for _, s := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"} {
		if err := sysctl(s, "1"); err != nil {
			return nil, err
		}
	}
	return &Dataplane{
		cfg: cfg, nl: nl, log: cfg.Logger,
		interfaces: map[string]dataplane.Interface{},
		nexthops:   map[prefixKey]map[netip.Addr]route.Route{},
		neighbors:  map[neighborKey]int{},
	}, nil
}

// Table returns the routing table of a VNI.
func (d *Dataplane) Table(vni uint32) int { return int(d.cfg.TableBase + vni) }

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

// ensureVNI creates the VNI's VXLAN device, its table's unreachable default routes (so that
// a miss never falls through to the host's main table) and the rule for decapsulated traffic.
func (d *Dataplane) ensureVNI(vni uint32) (netlink.Link, error) {
	name := DeviceName(vni)
	link, err := d.nl.LinkByName(name)
	if err != nil {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: RouterMAC(d.cfg.Underlay)},
			VxlanId:   int(vni),
			SrcAddr:   d.cfg.Underlay.AsSlice(),
			Port:      d.cfg.Port,
			Learning:  false,
		}
		if err := d.nl.LinkAdd(vx); err != nil {
			return nil, fmt.Errorf("create vxlan %s: %w", name, err)
		}
		if link, err = d.nl.LinkByName(name); err != nil {
			return nil, err
		}
		d.log.Info("vni device created", "vni", vni, "device", name, "table", d.Table(vni))
	}
	if err := d.nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set %s up: %w", name, err)
	}
	if err := sysctl("net/ipv4/conf/"+name+"/rp_filter", "2"); err != nil {
		return nil, err
	}
	for _, def := range []string{"0.0.0.0/0", "::/0"} {
		_, dst, _ := net.ParseCIDR(def)
		r := &netlink.Route{Table: d.Table(vni), Dst: dst, Type: unix.RTN_UNREACHABLE, Priority: 4278198272}
		if err := d.nl.RouteReplace(r); err != nil {
			return nil, fmt.Errorf("unreachable default in table %d: %w", d.Table(vni), err)
		}
	}
	return link, d.ensureRule(name, vni)
}

func (d *Dataplane) rules(iif string, vni uint32) []*netlink.Rule {
	var out []*netlink.Rule
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		r := netlink.NewRule()
		r.IifName, r.Table, r.Priority, r.Family = iif, d.Table(vni), d.cfg.RulePriority, fam
		out = append(out, r)
	}
	return out
}

func (d *Dataplane) ensureRule(iif string, vni uint32) error {
	for _, r := range d.rules(iif, vni) {
		if err := d.nl.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("rule iif %s lookup %d: %w", iif, r.Table, err)
		}
	}
	return nil
}

func (d *Dataplane) deleteRule(iif string, vni uint32) error {
	for _, r := range d.rules(iif, vni) {
		if err := d.nl.RuleDel(r); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete rule iif %s: %w", iif, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddInterface puts a local interface (which must exist) into its VNI: its traffic is routed
// in the VNI's table, where its addresses point at it; it answers ARP for remote addresses
// (proxy ARP) so machines need no special gateway.
func (d *Dataplane) AddInterface(_ context.Context, iface dataplane.Interface) error {
	if err := iface.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	link, err := d.nl.LinkByName(iface.Name)
	if err != nil {
		return fmt.Errorf("interface %s: %w", iface.Name, err)
	}
	if _, err := d.ensureVNI(iface.VNI); err != nil {
		return err
	}
	if old, ok := d.interfaces[iface.Name]; ok && old.VNI != iface.VNI {
		if err := d.removeInterface(old); err != nil {
			return err
		}
	}
	if err := d.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", iface.Name, err)
	}
	// Proxy ARP answers for every remote address, at once (the kernel delays proxy replies by
	// up to 0.8 s by default, which loses a machine's first packets).
	for path, v := range map[string]string{
		"net/ipv4/conf/" + iface.Name + "/proxy_arp":    "1",
		"net/ipv4/neigh/" + iface.Name + "/proxy_delay": "0",
		"net/ipv4/conf/" + iface.Name + "/rp_filter":    "2",
	} {
		if err := sysctl(path, v); err != nil {
			return err
		}
	}
	if err := d.ensureRule(iface.Name, iface.VNI); err != nil {
		return err
	}
	for _, a := range iface.Addresses {
		r := &netlink.Route{Table: d.Table(iface.VNI), Dst: ipNet(a), LinkIndex: link.Attrs().Index, Scope: netlink.SCOPE_LINK}
		if err := d.nl.RouteReplace(r); err != nil {
			return fmt.Errorf("route %s dev %s: %w", a, iface.Name, err)
		}
	}
	d.interfaces[iface.Name] = iface
	d.log.Info("interface added", "name", iface.Name, "vni", iface.VNI, "addresses", iface.Addresses)
	return nil
}

// DeleteInterface takes a local interface out of its VNI; the device itself is left alone.
func (d *Dataplane) DeleteInterface(_ context.Context, iface dataplane.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.interfaces[iface.Name]
	if !ok {
		return nil
	}
	return d.removeInterface(old)
}

func (d *Dataplane) removeInterface(iface dataplane.Interface) error {
	for _, a := range iface.Addresses {
		r := &netlink.Route{Table: d.Table(iface.VNI), Dst: ipNet(a)}
		if err := d.nl.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %s: %w", a, err)
		}
	}
	if err := d.deleteRule(iface.Name, iface.VNI); err != nil {
		return err
	}
	delete(d.interfaces, iface.Name)
	d.log.Info("interface removed", "name", iface.Name, "vni", iface.VNI)
	return nil
}
