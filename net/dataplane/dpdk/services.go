package dpdk

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ferrite-dev/ferrite/net/route"
)

// Services are the fast path's objects beyond dataplane.State: public addresses, NAT, load
// balancers and firewall rules of the local interfaces. dataplane.State does not carry them yet,
// so the agent's owner hands them over with Dataplane.SetServices (or ApplyServices); once
// dataplane.State grows these fields, Apply takes them from there instead.
type Services struct {
	// VirtualIPs map public addresses 1:1 to local interfaces.
	VirtualIPs []VirtualIP
	// NATs translate local interfaces' outbound traffic to a share of a public address's ports.
	NATs []NAT
	// NeighborNATs send return traffic of other hypervisors' NAT shares to them.
	NeighborNATs []NeighborNAT
	// LoadBalancers are load-balanced addresses served by this host, with their targets.
	LoadBalancers []LoadBalancer
	// FirewallRules filter local interfaces' traffic.
	FirewallRules []FirewallRule
}

// PortRange is an inclusive port range; the zero value means any port.
type PortRange struct {
	Min uint16 `json:"min"`
	Max uint16 `json:"max"`
}

func (p PortRange) validate(what string) error {
	if p.Min > p.Max {
		return fmt.Errorf("%s port range %d-%d is empty", what, p.Min, p.Max)
	}
	return nil
}

// Protocol is a transport protocol a load-balancer port or firewall rule matches.
type Protocol uint8

// Protocols; ProtocolAny only applies to firewall rules.
const (
	ProtocolAny Protocol = iota
	ProtocolTCP
	ProtocolUDP
	ProtocolICMP
	ProtocolICMPv6
)

// VirtualIP is a public address translated 1:1 to a local interface.
type VirtualIP struct {
	// Interface is the local interface's name (dataplane.Interface.Name).
	Interface string     `json:"interface"`
	IP        netip.Addr `json:"ip"`
}

// NAT translates a local interface's outbound traffic to IP and a source port in Ports.
type NAT struct {
	// Interface is the local interface's name.
	Interface string     `json:"interface"`
	IP        netip.Addr `json:"ip"`
	Ports     PortRange  `json:"ports"`
}

// NeighborNAT sends return traffic for another hypervisor's share (Ports) of a NAT address to
// that hypervisor (NextHop).
type NeighborNAT struct {
	// VNI is the virtual network the NAT address lives in (the public VNI).
	VNI     uint32     `json:"vni"`
	IP      netip.Addr `json:"ip"`
	Ports   PortRange  `json:"ports"`
	NextHop netip.Addr `json:"nextHop"`
}

// LoadBalancerPort is one port a load balancer serves.
type LoadBalancerPort struct {
	// Protocol is ProtocolTCP or ProtocolUDP.
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
}

// LoadBalancer spreads traffic to IP on Ports over the hypervisors in Targets.
type LoadBalancer struct {
	// ID names the load balancer on this host.
	ID      string             `json:"id"`
	VNI     uint32             `json:"vni"`
	IP      netip.Addr         `json:"ip"`
	Ports   []LoadBalancerPort `json:"ports"`
	Targets []netip.Addr       `json:"targets"`
}

// FirewallDirection is the direction of traffic a rule matches, seen from the machine.
type FirewallDirection uint8

// Directions.
const (
	Ingress FirewallDirection = iota
	Egress
)

// FirewallAction is what a matching rule does.
type FirewallAction uint8

// Actions.
const (
	Accept FirewallAction = iota
	Drop
)

// FirewallRule filters a local interface's traffic; lower Priority is evaluated first and the
// first match decides.
type FirewallRule struct {
	// Interface is the local interface's name; ID names the rule among its rules.
	Interface string            `json:"interface"`
	ID        string            `json:"id"`
	Direction FirewallDirection `json:"direction"`
	Action    FirewallAction    `json:"action"`
	Priority  uint32            `json:"priority"`
	// Source and Destination must contain the packet's addresses (0.0.0.0/0 or ::/0 for any).
	Source      netip.Prefix `json:"source"`
	Destination netip.Prefix `json:"destination"`
	Protocol    Protocol     `json:"protocol"`
	// SourcePorts and DestinationPorts apply to TCP and UDP.
	SourcePorts      PortRange `json:"sourcePorts"`
	DestinationPorts PortRange `json:"destinationPorts"`
}

func validAddr(what string, a netip.Addr) error {
	if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || a.Is4In6() {
		return fmt.Errorf("%s %v is not a usable address", what, a)
	}
	return nil
}

// Validate reports why the virtual IP cannot be installed.
func (v VirtualIP) Validate() error {
	if v.Interface == "" {
		return fmt.Errorf("virtual ip %v without an interface", v.IP)
	}
	if err := validAddr("virtual ip of "+v.Interface, v.IP); err != nil {
		return err
	}
	return nil
}

// Validate reports why the NAT cannot be installed.
func (n NAT) Validate() error {
	if n.Interface == "" {
		return fmt.Errorf("nat %v without an interface", n.IP)
	}
	if err := validAddr("nat ip of "+n.Interface, n.IP); err != nil {
		return err
	}
	if n.Ports == (PortRange{}) {
		return fmt.Errorf("nat of %s: no port range", n.Interface)
	}
	return n.Ports.validate("nat of " + n.Interface)
}

// Validate reports why the neighbour NAT cannot be installed.
func (n NeighborNAT) Validate() error {
	what := fmt.Sprintf("neighbor nat vni %d %v %d-%d", n.VNI, n.IP, n.Ports.Min, n.Ports.Max)
	var errs []error
	if n.VNI == 0 || n.VNI > route.MaxVNI {
		errs = append(errs, fmt.Errorf("%s: vni out of range", what))
	}
	if err := validAddr(what+": ip", n.IP); err != nil {
		errs = append(errs, err)
	}
	if err := validAddr(what+": next hop", n.NextHop); err != nil {
		errs = append(errs, err)
	}
	if n.Ports == (PortRange{}) {
		errs = append(errs, fmt.Errorf("%s: no port range", what))
	} else if err := n.Ports.validate(what); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate reports why the load balancer cannot be installed.
func (l LoadBalancer) Validate() error {
	if l.ID == "" {
		return fmt.Errorf("load balancer %v without an id", l.IP)
	}
	what := "load balancer " + l.ID
	var errs []error
	if l.VNI == 0 || l.VNI > route.MaxVNI {
		errs = append(errs, fmt.Errorf("%s: vni %d out of range", what, l.VNI))
	}
	if err := validAddr(what+": ip", l.IP); err != nil {
		errs = append(errs, err)
	}
	for _, p := range l.Ports {
		if (p.Protocol != ProtocolTCP && p.Protocol != ProtocolUDP) || p.Port == 0 {
			errs = append(errs, fmt.Errorf("%s: port %d protocol %d: want tcp or udp and a port", what, p.Port, p.Protocol))
		}
	}
	for _, t := range l.Targets {
		if err := validAddr(what+": target", t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate reports why the firewall rule cannot be installed.
func (r FirewallRule) Validate() error {
	if r.Interface == "" || r.ID == "" {
		return fmt.Errorf("firewall rule %q of interface %q: both names are needed", r.ID, r.Interface)
	}
	what := "firewall rule " + r.ID + " of " + r.Interface
	var errs []error
	for _, p := range []netip.Prefix{r.Source, r.Destination} {
		if !p.IsValid() || p.Masked() != p {
			errs = append(errs, fmt.Errorf("%s: prefix %v is not a masked prefix", what, p))
		}
	}
	if r.Source.IsValid() && r.Destination.IsValid() && r.Source.Addr().Is4() != r.Destination.Addr().Is4() {
		errs = append(errs, fmt.Errorf("%s: source and destination mix IPv4 and IPv6", what))
	}
	if r.Protocol > ProtocolICMPv6 || r.Direction > Egress || r.Action > Drop {
		errs = append(errs, fmt.Errorf("%s: unknown protocol, direction or action", what))
	}
	for _, err := range []error{r.SourcePorts.validate(what + ": source"), r.DestinationPorts.validate(what + ": destination")} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
