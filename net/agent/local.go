package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// AddInterface installs a local interface in the dataplane, announces a standard route for each
// of its addresses with this hypervisor as next hop, and subscribes to its VNI. Adding an
// interface again replaces it.
func (a *Agent) AddInterface(ctx context.Context, iface dataplane.Interface) error {
	if err := iface.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.interfaces[iface.Name]; ok {
		if err := a.removeInterface(ctx, old); err != nil {
			return err
		}
	}
	if err := a.cfg.Dataplane.AddInterface(ctx, iface); err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	a.interfaces[iface.Name] = iface
	for _, r := range a.interfaceRoutes(iface) {
		if err := a.announce(ctx, r); err != nil {
			return err
		}
	}
	return a.syncMemberships(ctx)
}

// RemoveInterface withdraws the routes of a local interface, drops its VNI subscription when no
// other interface needs it, and removes it from the dataplane.
func (a *Agent) RemoveInterface(ctx context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	iface, ok := a.interfaces[name]
	if !ok {
		return nil
	}
	if err := a.removeInterface(ctx, iface); err != nil {
		return err
	}
	return a.syncMemberships(ctx)
}

func (a *Agent) removeInterface(ctx context.Context, iface dataplane.Interface) error {
	for _, r := range a.interfaceRoutes(iface) {
		if err := a.withdraw(ctx, r); err != nil {
			return err
		}
	}
	delete(a.interfaces, iface.Name)
	if err := a.cfg.Dataplane.DeleteInterface(ctx, iface); err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	return nil
}

func (a *Agent) interfaceRoutes(iface dataplane.Interface) []route.Route {
	out := make([]route.Route, 0, len(iface.Addresses))
	for _, p := range iface.Addresses {
		out = append(out, route.Route{VNI: iface.VNI, Prefix: p, NextHop: a.cfg.NextHop})
	}
	return out
}

// Interfaces lists the local interfaces by name.
func (a *Agent) Interfaces() []dataplane.Interface {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.SortedFunc(maps.Values(a.interfaces), func(x, y dataplane.Interface) int {
		return strings.Compare(x.Name, y.Name)
	})
}

// Announce originates a route that is not an interface address: a NAT port range or a
// load-balancer target hosted here. Announcing a route twice is a no-op.
func (a *Agent) Announce(ctx context.Context, r route.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.explicit[r] {
		return nil
	}
	if err := a.announce(ctx, r); err != nil {
		return err
	}
	a.explicit[r] = true
	return nil
}

// Withdraw stops originating a route given to Announce.
func (a *Agent) Withdraw(ctx context.Context, r route.Route) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.explicit[r] {
		return nil
	}
	delete(a.explicit, r)
	return a.withdraw(ctx, r)
}

// Announced lists the routes this agent originates.
func (a *Agent) Announced() []route.Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedRoutes(maps.Keys(a.announced))
}

func (a *Agent) announce(ctx context.Context, r route.Route) error {
	a.announced[r]++
	if a.announced[r] > 1 {
		return nil
	}
	p, err := route.ToAPI(r, a.cfg.RouterID)
	if err == nil {
		_, err = a.bgp.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	}
	if err != nil {
		delete(a.announced, r)
		return fmt.Errorf("announce %s: %w", r, err)
	}
	return nil
}

func (a *Agent) withdraw(ctx context.Context, r route.Route) error {
	if a.announced[r] == 0 {
		return nil
	}
	a.announced[r]--
	if a.announced[r] > 0 {
		return nil
	}
	delete(a.announced, r)
	p, err := route.ToAPI(r, a.cfg.RouterID)
	if err == nil {
		err = a.bgp.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: route.Family, Path: p})
	}
	if err != nil {
		return fmt.Errorf("withdraw %s: %w", r, err)
	}
	return nil
}

// Subscribe asks the reflectors for the routes of a VNI even without a local interface in it
// (a NAT gateway or load balancer serving the VNI, for example).
func (a *Agent) Subscribe(ctx context.Context, vni uint32) error {
	if vni == 0 || vni > route.MaxVNI {
		return fmt.Errorf("vni %d out of range", vni)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.subscribed[vni] = true
	return a.syncMemberships(ctx)
}

// Unsubscribe drops an explicit subscription; the VNI stays subscribed while a local interface
// is in it.
func (a *Agent) Unsubscribe(ctx context.Context, vni uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.subscribed, vni)
	return a.syncMemberships(ctx)
}

// Subscriptions lists the VNIs the agent receives routes for.
func (a *Agent) Subscriptions() []uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Sorted(maps.Keys(a.members))
}

// syncMemberships brings the route-target memberships in BGP in line with the explicit
// subscriptions and the VNIs of the local interfaces.
func (a *Agent) syncMemberships(ctx context.Context) error {
	want := maps.Clone(a.subscribed)
	for _, iface := range a.interfaces {
		want[iface.VNI] = true
	}
	for vni := range want {
		if a.members[vni] {
			continue
		}
		p, err := route.Membership(vni, a.cfg.RouterID)
		if err == nil {
			_, err = a.bgp.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
		}
		if err != nil {
			return fmt.Errorf("subscribe to vni %d: %w", vni, err)
		}
		a.members[vni] = true
	}
	for vni := range a.members {
		if want[vni] {
			continue
		}
		p, err := route.Membership(vni, a.cfg.RouterID)
		if err == nil {
			err = a.bgp.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL,
				Family: route.SubscriptionFamily, Path: p})
		}
		if err != nil {
			return fmt.Errorf("unsubscribe from vni %d: %w", vni, err)
		}
		delete(a.members, vni)
	}
	return nil
}
