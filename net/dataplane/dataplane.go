// Package dataplane defines what netagent asks of a hypervisor's packet path: local network
// interfaces placed in a virtual network, and overlay routes to other hypervisors. The kernel
// package implements it with Linux netlink; the dpdk package hands it to a dpservice-style fast
// path over gRPC; the memory package records it for tests and benchmarks.
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
		if !a.IsValid() || a.Masked() != a {
			return fmt.Errorf("interface %s: bad address prefix %s", i.Name, a)
		}
	}
	return nil
}

// Dataplane programs a hypervisor. Every method is idempotent: adding what is there or deleting
// what is not succeeds, so that an agent can replay its whole state after a restart.
// Several routes may share a VNI and prefix with different next hops: the dataplane spreads
// traffic over all of them (ECMP).
type Dataplane interface {
	AddInterface(ctx context.Context, iface Interface) error
	DeleteInterface(ctx context.Context, iface Interface) error
	AddRoute(ctx context.Context, r route.Route) error
	DeleteRoute(ctx context.Context, r route.Route) error
}
