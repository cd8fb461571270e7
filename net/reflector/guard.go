package reflector

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ferrite-dev/ferrite/net/route"
)

// The import guard decides which clients' routes enter the reflector's table. GoBGP's policy
// language cannot say "the next hop is the session's address" for dynamic neighbours, nor read
// a route distinguisher, so the guard works in two layers:
//
//   - GoBGP's global import policy accepts a client's EVPN routes only through a per-client
//     policy, made when the client's session comes up, whose conditions are "from this
//     neighbour and with this neighbour's address as next hop"; every other EVPN route from
//     the client prefixes is rejected. A forged next hop never enters the table.
//   - The guard watches every route clients send (before policy) and checks the rest: the
//     route decodes, its route distinguisher names the client's router ID, it is not a default
//     route (unless NAT), and its prefix does not overlap the underlay (the client prefixes and
//     the reflectors' addresses). A client that breaks a rule is quarantined: its per-client
//     policy is removed and its routes re-filtered, so all of them leave the table, until its
//     session starts again. Between the update and the quarantine a bad route may be reflected
//     for a moment; the next-hop rule has no such window.
type guard struct {
	r      *Reflector
	cancel context.CancelFunc

	mu          sync.Mutex
	allowed     map[string]bool   // clients with a per-client policy
	routerIDs   map[string]string // session address -> router ID
	quarantined map[string]string // session address -> why
	refused     uint64            // rule breaches seen
}

const refuseClientsPolicy = "refuse-clients"

func startGuard(ctx context.Context, r *Reflector) (*guard, error) {
	g := &guard{r: r, allowed: map[string]bool{}, routerIDs: map[string]string{}, quarantined: map[string]string{}}
	var clients, peers []string
	for _, p := range r.cfg.ClientPrefixes {
		clients = append(clients, p.String())
	}
	for _, p := range r.cfg.Peers {
		peers = append(peers, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()).String())
	}
	evpn := []*api.Family{route.Family}
	policies := []*api.Policy{{Name: refuseClientsPolicy, Statements: []*api.Statement{{
		Name:       refuseClientsPolicy,
		Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Name: "clients"}, AfiSafiIn: evpn},
		Actions:    &api.Actions{RouteAction: api.RouteAction_REJECT},
	}}}}
	if err := g.addSet(ctx, "clients", clients); err != nil {
		return nil, err
	}
	if len(peers) > 0 {
		// Peer reflectors' addresses may lie in the client prefixes: their routes, checked by
		// the reflector that took them from its client, are accepted first.
		if err := g.addSet(ctx, "reflectors", peers); err != nil {
			return nil, err
		}
		policies = append([]*api.Policy{{Name: "accept-reflectors", Statements: []*api.Statement{{
			Name:       "accept-reflectors",
			Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Name: "reflectors"}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}}}}, policies...)
	}
	for _, p := range policies {
		if err := r.bgp.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
			return nil, fmt.Errorf("add policy %s: %w", p.Name, err)
		}
	}
	if err := g.assign(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	err := r.bgp.WatchEvent(wctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_ADJIN},
		}},
	}, g.onEvent)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch sessions and updates: %w", err)
	}
	return g, nil
}

func (g *guard) stop() { g.cancel() }

func (g *guard) addSet(ctx context.Context, name string, list []string) error {
	err := g.r.bgp.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
		DefinedType: api.DefinedType_NEIGHBOR, Name: name, List: list,
	}})
	if err != nil {
		return fmt.Errorf("add neighbor set %s: %w", name, err)
	}
	return nil
}

// assign installs the import policy chain: peers, allowed clients, then the refusal.
func (g *guard) assign(ctx context.Context) error {
	g.mu.Lock()
	names := make([]string, 0, len(g.allowed))
	for a := range g.allowed {
		names = append(names, a)
	}
	g.mu.Unlock()
	sort.Strings(names)
	var chain []*api.Policy
	if len(g.r.cfg.Peers) > 0 {
		chain = append(chain, &api.Policy{Name: "accept-reflectors"})
	}
	for _, a := range names {
		chain = append(chain, &api.Policy{Name: clientPolicy(a)})
	}
	chain = append(chain, &api.Policy{Name: refuseClientsPolicy})
	err := g.r.bgp.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_IMPORT, Policies: chain, DefaultAction: api.RouteAction_ACCEPT,
	}})
	if err != nil {
		return fmt.Errorf("assign import policies: %w", err)
	}
	return nil
}

func clientPolicy(addr string) string { return "client-" + addr }

// allow makes the per-client policy of addr (once) and re-filters what it sent.
func (g *guard) allow(ctx context.Context, addr string) error {
	g.mu.Lock()
	done := g.allowed[addr]
	g.mu.Unlock()
	if done {
		return nil
	}
	host, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("client address %q: %w", addr, err)
	}
	self := netip.PrefixFrom(host, host.BitLen()).String()
	name := clientPolicy(addr)
	_ = g.r.bgp.DeletePolicy(ctx, &api.DeletePolicyRequest{Policy: &api.Policy{Name: name}, All: true})
	_ = g.r.bgp.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_NEIGHBOR, Name: name}, All: true})
	if err := g.addSet(ctx, name, []string{self}); err != nil {
		return err
	}
	err = g.r.bgp.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{Name: name, Statements: []*api.Statement{{
		Name:       name,
		Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Name: name}, NextHopInList: []string{self}, AfiSafiIn: []*api.Family{route.Family}},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
	}}}})
	if err != nil {
		return fmt.Errorf("add policy %s: %w", name, err)
	}
	g.mu.Lock()
	g.allowed[addr] = true
	g.mu.Unlock()
	if err := g.assign(ctx); err != nil {
		return err
	}
	return g.r.bgp.ResetPeer(ctx, &api.ResetPeerRequest{Address: addr, Soft: true, Direction: api.ResetPeerRequest_IN})
}

// quarantine removes addr's per-client policy, so every route it sent leaves the table.
func (g *guard) quarantine(ctx context.Context, addr, why string) {
	g.mu.Lock()
	g.refused++
	if _, ok := g.quarantined[addr]; ok {
		g.mu.Unlock()
		return
	}
	g.quarantined[addr] = why
	delete(g.allowed, addr)
	g.mu.Unlock()
	g.r.log.Warn("client quarantined: its routes are refused until its session restarts", "client", addr, "why", why)
	if err := g.assign(ctx); err != nil {
		g.r.log.Error("quarantine", "client", addr, "err", err)
		return
	}
	if err := g.r.bgp.ResetPeer(ctx, &api.ResetPeerRequest{Address: addr, Soft: true, Direction: api.ResetPeerRequest_IN}); err != nil {
		g.r.log.Error("quarantine: re-filter", "client", addr, "err", err)
	}
}

func (g *guard) onEvent(ev *api.WatchEventResponse) {
	ctx := context.Background()
	if p := ev.GetPeer(); p != nil {
		g.onPeer(ctx, p)
	}
	for _, p := range ev.GetTable().GetPaths() {
		if p.IsWithdraw || p.GetFamily().GetSafi() != route.Family.Safi || g.r.isPeer(p.NeighborIp) {
			continue
		}
		if err := g.check(ctx, p); err != nil {
			g.quarantine(ctx, p.NeighborIp, err.Error())
		}
	}
}

func (g *guard) onPeer(ctx context.Context, ev *api.WatchEventResponse_PeerEvent) {
	st := ev.GetPeer().GetState()
	addr := st.GetNeighborAddress()
	if addr == "" || g.r.isPeer(addr) || ev.GetType() != api.WatchEventResponse_PeerEvent_STATE {
		return
	}
	switch st.GetSessionState() {
	case api.PeerState_ESTABLISHED:
		g.mu.Lock()
		g.routerIDs[addr] = st.GetRouterId()
		delete(g.quarantined, addr) // a new session is a new chance
		g.mu.Unlock()
		if err := g.allow(ctx, addr); err != nil {
			g.r.log.Error("allow client", "client", addr, "err", err)
		}
	}
}

// check applies the rules GoBGP's policy cannot express to one route a client sent.
func (g *guard) check(ctx context.Context, p *api.Path) error {
	r, originator, err := route.FromAPI(p)
	if err != nil {
		return err
	}
	g.mu.Lock()
	id := g.routerIDs[p.NeighborIp]
	g.mu.Unlock()
	if id == "" {
		id = g.routerID(ctx, p.NeighborIp)
	}
	if r.NextHop.String() == p.NeighborIp && originator.String() != id {
		return fmt.Errorf("%s: route distinguisher names %v, the client's router ID is %s", r, originator, id)
	}
	if r.NextHop.String() != p.NeighborIp {
		return nil // refused by the client's import policy already
	}
	return g.checkPrefix(r)
}

// checkPrefix refuses default routes (other than NAT) and routes into the underlay.
func (g *guard) checkPrefix(r route.Route) error {
	if r.Prefix.Bits() == 0 {
		if r.Kind == route.KindNAT {
			return nil
		}
		return fmt.Errorf("%s: default route that is not a NAT route", r)
	}
	for _, c := range g.r.cfg.ClientPrefixes {
		if c.Overlaps(r.Prefix) {
			return fmt.Errorf("%s: overlaps the underlay prefix %s", r, c)
		}
	}
	under := []netip.Addr{g.r.cfg.RouterID}
	under = append(under, g.r.cfg.ListenAddresses...)
	for _, p := range g.r.cfg.Peers {
		under = append(under, p.Addr())
	}
	for _, a := range under {
		if r.Prefix.Contains(a) {
			return fmt.Errorf("%s: contains the reflector address %s", r, a)
		}
	}
	return nil
}

func (g *guard) routerID(ctx context.Context, addr string) string {
	var id string
	_ = g.r.bgp.ListPeer(ctx, &api.ListPeerRequest{Address: addr}, func(p *api.Peer) { id = p.GetState().GetRouterId() })
	return id
}

// Refused counts the routes the guard found breaking a rule (each quarantined a client).
func (r *Reflector) Refused() uint64 {
	if r.guard == nil {
		return 0
	}
	r.guard.mu.Lock()
	defer r.guard.mu.Unlock()
	return r.guard.refused
}

// Quarantined lists the clients whose routes are refused, with the reason.
func (r *Reflector) Quarantined() map[string]string {
	if r.guard == nil {
		return nil
	}
	r.guard.mu.Lock()
	defer r.guard.mu.Unlock()
	out := make(map[string]string, len(r.guard.quarantined))
	for a, why := range r.guard.quarantined {
		out[a] = why
	}
	return out
}
