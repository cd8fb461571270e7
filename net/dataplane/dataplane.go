// Package dataplane defines what netagent asks of a hypervisor's packet path: local network
// interfaces placed in a virtual network, overlay routes to other hypervisors, and the tunnel
// endpoints allowed to send overlay traffic. The agent hands the whole desired state to Apply,
// which makes the real dataplane match it (level-triggered): the kernel package implements it
// with Linux netlink and nftables; the dpdk package hands it to a dpservice-style fast path over
// gRPC; the memory package records it for tests and benchmarks.
package dataplane

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/ferrite-dev/ferrite/net/route"
)

// Interface is a local network interface of a machine (a tap or veth on the hypervisor) that
// belongs to one virtual network and owns some addresses in it.
type Interface struct {
	// Name is the hypervisor-side device name.
	Name string `json:"name"`
	// VNI is the virtual network the interface is in.
	VNI uint32 `json:"vni"`
	// Addresses are the prefixes the machine owns on this interface (usually /32 and /128).
	Addresses []netip.Prefix `json:"addresses"`
	// Policy filters the interface's traffic; nil allows everything.
	Policy *Policy `json:"policy,omitempty"`
	// VirtualIP is the interface's public address (1:1 NAT in State.PublicVNI): traffic to it
	// from the public VNI reaches the interface's address of the same family, and the
	// interface's traffic to public addresses leaves from it. Zero when none.
	VirtualIP netip.Addr `json:"virtualIP,omitzero"`
	// NAT is the interface's share of a NAT gateway, used for its traffic to public addresses
	// when it has no VirtualIP; nil when none.
	NAT *NAT `json:"nat,omitempty"`
	// LoadBalancers are the public load balancers the interface is a target of: connections
	// to their address (and ports) that reach this hypervisor are spread over its local targets.
	LoadBalancers []LoadBalancer `json:"loadBalancers,omitempty"`
}

// NAT is a range of source ports of a shared public address.
type NAT struct {
	IP netip.Addr `json:"ip"`
	// PortMin and PortMax bound the source ports (inclusive); PortMin is a multiple of
	// route.NATPortAlign.
	PortMin uint16 `json:"portMin"`
	PortMax uint16 `json:"portMax"`
}

// LoadBalancer is a public load-balanced address.
type LoadBalancer struct {
	IP netip.Addr `json:"ip"`
	// Ports are the balanced destination ports; empty balances every port and protocol.
	Ports []PortRange `json:"ports,omitempty"`
}

// Public reports whether the interface has any public service (VirtualIP, NAT or load balancer).
func (i Interface) Public() bool {
	return i.VirtualIP.IsValid() || i.NAT != nil || len(i.LoadBalancers) > 0
}

// Policy is the firewall of one interface, from the NetworkPolicies that select it: a direction
// that is isolated allows only what one of its rules allows (and replies to allowed traffic);
// a direction that is not isolated allows everything.
type Policy struct {
	// IngressIsolated filters traffic to the machine; Ingress lists what it may receive.
	IngressIsolated bool   `json:"ingressIsolated,omitempty"`
	Ingress         []Rule `json:"ingress,omitempty"`
	// EgressIsolated filters traffic from the machine; Egress lists what it may send.
	EgressIsolated bool   `json:"egressIsolated,omitempty"`
	Egress         []Rule `json:"egress,omitempty"`
}

// Rule allows traffic with a peer in one of Peers (any peer when empty) on one of Ports (any
// port when empty).
type Rule struct {
	// Peers are the remote prefixes, each with the prefixes inside it that are excluded.
	Peers []Peer `json:"peers,omitempty"`
	// Ports are the allowed destination ports of the machine (ingress) or of the peer (egress).
	Ports []PortRange `json:"ports,omitempty"`
}

// Peer is a remote prefix less some prefixes inside it.
type Peer struct {
	Prefix netip.Prefix   `json:"prefix"`
	Except []netip.Prefix `json:"except,omitempty"`
}

// PortRange is a range of ports of one protocol: "TCP", "UDP" or "SCTP". First 0 means every
// port of the protocol; Last 0 means First alone.
type PortRange struct {
	Protocol string `json:"protocol"`
	First    uint16 `json:"first,omitempty"`
	Last     uint16 `json:"last,omitempty"`
}

// Validate reports why an interface cannot be installed.
func (i Interface) Validate() error {
	if i.Name == "" {
		return fmt.Errorf("interface without a name")
	}
	if i.VNI == 0 || i.VNI > route.MaxVNI {
		return fmt.Errorf("interface %s: vni %d out of range", i.Name, i.VNI)
	}
	for _, a := range i.Addresses {
		if err := route.ValidatePrefix(a); err != nil {
			return fmt.Errorf("interface %s: address %w", i.Name, err)
		}
	}
	if v := i.VirtualIP; v.IsValid() && (v.Zone() != "" || v.Is4In6() || v.IsUnspecified()) {
		return fmt.Errorf("interface %s: virtual IP %s is not a plain address", i.Name, v)
	}
	if n := i.NAT; n != nil {
		switch {
		case !n.IP.IsValid() || n.IP.Zone() != "" || n.IP.Is4In6() || n.IP.IsUnspecified():
			return fmt.Errorf("interface %s: nat address %v is not a plain address", i.Name, n.IP)
		case n.PortMin > n.PortMax || n.PortMin%route.NATPortAlign != 0:
			return fmt.Errorf("interface %s: nat ports %d-%d: want a non-empty range starting on a multiple of %d", i.Name, n.PortMin, n.PortMax, route.NATPortAlign)
		}
	}
	for _, lb := range i.LoadBalancers {
		if !lb.IP.IsValid() || lb.IP.Zone() != "" || lb.IP.Is4In6() || lb.IP.IsUnspecified() {
			return fmt.Errorf("interface %s: load balancer address %v is not a plain address", i.Name, lb.IP)
		}
	}
	return nil
}

// State is everything Ferrite wants in a hypervisor's dataplane. Anything Ferrite made earlier
// that is not in it is removed by Apply.
type State struct {
	// Interfaces are the local interfaces and the VNIs they are in.
	Interfaces []Interface
	// Routes are the overlay routes learned from other hypervisors. Several routes may share a
	// VNI and prefix with different next hops: the dataplane spreads traffic over all of them
	// (ECMP).
	Routes []route.Route
	// VTEPs are the underlay addresses allowed to send overlay (VXLAN) traffic to this host.
	VTEPs []netip.Addr
	// Peerings lists, per VNI, the VNIs whose addresses its interfaces may reach (a network
	// peering, agreed by both networks): their local interfaces' addresses and their routes
	// are reachable from the VNI too, still through the peered VNI's own devices. A peering
	// is one-way here; the agent lists both directions.
	Peerings map[uint32][]uint32
	// PublicVNI is the virtual network of public addresses (VirtualIPs, NAT gateway and
	// load-balancer addresses, and the outside world's prefixes, announced by edge routers);
	// zero when this hypervisor serves no public addresses. Interfaces' public services need it.
	PublicVNI uint32
}

// Result says what Apply could not install for a reason outside the dataplane's control.
type Result struct {
	// Missing names the interfaces of the state whose device does not exist (yet). Their
	// addresses must not be announced; Apply installs them once the device appears.
	Missing []string
}

// Dataplane programs a hypervisor.
type Dataplane interface {
	// Apply makes the dataplane match s, reading back the real state rather than trusting what
	// an earlier call did: it adds what is missing, fixes what differs and removes what Ferrite
	// made that s no longer has. It is idempotent and safe to call at any time, again and
	// again. On failure it still applies what it can and returns an error naming each failed
	// item; the caller retries with backoff.
	Apply(ctx context.Context, s State) (Result, error)
}
