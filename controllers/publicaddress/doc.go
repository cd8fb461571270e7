// Package publicaddress connects public addresses to network interfaces. Four controllers:
//
//   - virtualip-binding (Binding): a VirtualIP is bound to the NetworkInterface its
//     spec.targetRef names (same namespace; the uid must match when set). A NIC whose
//     spec.virtualIPRef names a free VirtualIP becomes its target. Each NIC's status.virtualIP is
//     the address of the VirtualIP bound to it.
//   - natgateway (NATGateways): a NATGateway owns a VirtualIP "<gateway>-nat" and hands each
//     interface of its network that has no VirtualIP a range of that address's source ports
//     (NetworkInterface.status.nat).
//   - loadbalancer (LoadBalancers): a public LoadBalancer owns one VirtualIP per family,
//     "<lb>-lb-ipv4" and "<lb>-lb-ipv6".
//   - virtualip-quarantine (Quarantine): a deleted VirtualIP keeps its address claimed for a
//     while (AddressQuarantineFinalizer), so stale routes and DNAT rules of a dead host never
//     carry another tenant's traffic to the old one.
//
// The addresses themselves come from controllers/ipam (virtualip-ipam). VirtualIPs owned by a
// NATGateway or LoadBalancer (controller owner reference) are never bound to an interface.
// Ferrite has no garbage collector in standalone mode, so the gateway and load balancer
// controllers keep a finalizer and delete their VirtualIPs themselves.
package publicaddress

import "time"

// Finalizers of the objects that own VirtualIPs.
const (
	// NATGatewayFinalizer holds a NATGateway until its assignments and VirtualIP are gone.
	NATGatewayFinalizer = "networking.ferrite.dev/nat-gateway"
	// LoadBalancerFinalizer holds a LoadBalancer until its VirtualIPs are gone.
	LoadBalancerFinalizer = "networking.ferrite.dev/load-balancer"
)

// Event reasons.
const (
	// ReasonVirtualIPTaken: a NIC's virtualIPRef names a VirtualIP bound to another NIC.
	ReasonVirtualIPTaken = "VirtualIPTaken"
	// ReasonVirtualIPNotBindable: a NIC's virtualIPRef names a VirtualIP that a NATGateway or
	// LoadBalancer owns.
	ReasonVirtualIPNotBindable = "VirtualIPNotBindable"
	// ReasonSeveralVirtualIPs: more than one VirtualIP targets one NIC; one is used.
	ReasonSeveralVirtualIPs = "SeveralVirtualIPs"
	// ReasonNameTaken: the VirtualIP name a gateway or load balancer needs belongs to another
	// object.
	ReasonNameTaken = "VirtualIPNameTaken"
	// ReasonNATPortsExhausted: interfaces of the network got no port range.
	ReasonNATPortsExhausted = "NATPortsExhausted"
	// ReasonNATGatewayNotServing: an older NATGateway serves the same network.
	ReasonNATGatewayNotServing = "NATGatewayNotServing"
	// ReasonInternalUnsupported: Internal load balancers get no address yet.
	ReasonInternalUnsupported = "InternalLoadBalancerNotSupported"
)

// FirstNATPort is the lowest source port handed out; the ports below are left to the host.
const FirstNATPort = 1024

// retryDelay is how soon an object is looked at again after a lost resourceVersion race.
const retryDelay = time.Second
