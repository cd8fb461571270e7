package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// local merges the two sources of the agent's local state, the config file's static part and
// the interfaces the API gives, and hands the union to the agent whenever either changes.
type local struct {
	agent *agent.Agent
	// followsAPI holds the state back until the API's part has come once: an agent's first
	// state opens its sessions, and one without the API's interfaces would withdraw their
	// routes from every other host after a restart.
	followsAPI bool
	apiKnown   bool
	// public says the agent has a public VNI. Without one it refuses public services; the
	// API's are left out (and reported) rather than have one tenant's VirtualIP stop every
	// update of this host.
	public bool

	mu          sync.Mutex
	static      agent.Local
	api         []dataplane.Interface
	apiPeerings map[uint32][]uint32
}

// SetStatic replaces the config file's part.
func (l *local) SetStatic(ctx context.Context, static agent.Local) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.static = static
	return l.push(ctx)
}

// SetInterfaces replaces the API's part (follower.Agent).
func (l *local) SetInterfaces(ctx context.Context, ifaces []dataplane.Interface, peerings map[uint32][]uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.api, l.apiPeerings = ifaces, peerings
	l.apiKnown = true
	return l.push(ctx)
}

// InterfaceState is the agent's (follower.Agent).
func (l *local) InterfaceState(name string) (present, announced bool) {
	return l.agent.InterfaceState(name)
}

func (l *local) push(ctx context.Context) error {
	if l.followsAPI && !l.apiKnown {
		return nil
	}
	api, refused := l.api, []string(nil)
	if !l.public {
		api, refused = withoutPublic(l.api)
	}
	merged := agent.Local{
		Interfaces:    append(append([]dataplane.Interface(nil), l.static.Interfaces...), api...),
		Routes:        l.static.Routes,
		Subscriptions: l.static.Subscriptions,
		Peerings:      map[uint32][]uint32{},
	}
	for _, source := range []map[uint32][]uint32{l.static.Peerings, l.apiPeerings} {
		for vni, peers := range source {
			for _, peer := range peers {
				if !slices.Contains(merged.Peerings[vni], peer) {
					merged.Peerings[vni] = append(merged.Peerings[vni], peer)
				}
			}
		}
	}
	err := l.agent.SetLocal(ctx, merged)
	if len(refused) > 0 {
		err = errors.Join(err, fmt.Errorf("interfaces %s: public services left out: netagent has no publicVNI", strings.Join(refused, ", ")))
	}
	return err
}

// withoutPublic returns the interfaces with their public services removed, and the names of
// those that had some.
func withoutPublic(ifaces []dataplane.Interface) ([]dataplane.Interface, []string) {
	var names []string
	out := make([]dataplane.Interface, 0, len(ifaces))
	for _, iface := range ifaces {
		if iface.Public() {
			names = append(names, iface.Name)
			iface.VirtualIP, iface.NAT, iface.LoadBalancers = netip.Addr{}, nil, nil
		}
		out = append(out, iface)
	}
	return out, names
}
