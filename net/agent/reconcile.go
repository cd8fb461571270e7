package agent

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// dataplaneState is what the agent knows of the dataplane from its Apply calls.
type dataplaneState struct {
	present  map[string]bool // per interface of the last Apply: whether its device exists
	applied  bool            // an Apply has succeeded
	failing  bool            // the last Apply failed
	ribGen   uint64          // rib generation of the last successful Apply
	localGen uint64          // local generation of the last successful Apply (see Agent.localGen)
	last     time.Time       // when the last Apply succeeded
}

// syncState tracks the start of the agent: its sessions and the reflectors' End-of-RIB.
type syncState struct {
	peers    map[netip.AddrPort]bool // reflectors added to GoBGP
	done     bool                    // a reflector sent End-of-RIB, or the wait timed out
	deadline time.Time               // when the wait for End-of-RIB gives up
}

// wake tells the reconcile loop that something changed; kicks that arrive while one is pending
// coalesce into it.
func (a *Agent) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run is the reconcile loop: a pass runs debounce after a change (a stream of changes delays it
// by at most maxDelay), after a failure with exponential backoff, and every resync regardless.
func (a *Agent) run() {
	defer close(a.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var burst time.Time // first change of the pending burst; zero when none is pending
	var backoff time.Duration
	for {
		select {
		case <-a.ctx.Done():
			timer.Stop()
			return
		case <-a.kick:
			if backoff > 0 {
				continue // the retry comes soon enough and will see the change
			}
			now := time.Now()
			if burst.IsZero() {
				burst = now
			}
			timer.Reset(min(debounce, burst.Add(maxDelay).Sub(now)))
			continue
		case <-timer.C:
		}
		burst = time.Time{}
		next, err := a.pass()
		if err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			next = backoff
			a.log.Warn("reconcile failed; retrying", "in", backoff, "err", err)
		} else {
			backoff = 0
		}
		timer.Reset(next)
	}
}

// pass brings the dataplane and BGP in line with the desired state once. It returns when the
// next pass is due if nothing changes.
func (a *Agent) pass() (time.Duration, error) {
	next := resync
	a.mu.Lock()
	if !a.set {
		a.mu.Unlock()
		return next, nil
	}
	now := time.Now()
	if a.sync.deadline.IsZero() {
		// The wait for End-of-RIB starts with the sessions (none: nothing to wait for).
		a.sync.deadline = now.Add(a.cfg.GracefulRestart.EndOfRIBWait)
		a.sync.done = a.sync.done || len(a.cfg.Reflectors) == 0
	}
	if !a.sync.done {
		if now.After(a.sync.deadline) {
			a.sync.done = true
			a.log.Warn("no End-of-RIB from any reflector within the hold time; applying what was learned", "routes", len(a.rib.routes))
		} else {
			next = min(next, a.sync.deadline.Sub(now)+time.Millisecond)
		}
	}
	var state *dataplane.State
	ribGen, localGen := a.rib.gen, a.localGen
	missing := slices.Contains(slices.Collect(maps.Values(a.dp.present)), false)
	if a.sync.done && (a.dp.failing || a.dp.ribGen != ribGen || a.dp.localGen != localGen ||
		now.Sub(a.dp.last) >= resync-debounce || missing && now.Sub(a.dp.last) >= missingPoll-debounce) {
		state = a.desiredState()
	}
	if missing {
		next = min(next, missingPoll)
	}
	a.mu.Unlock()

	var errs []error
	if state != nil {
		errs = append(errs, a.apply(*state, ribGen, localGen))
		// This Apply may have found a device missing (a new interface whose tap is not there
		// yet): poll for it from now on, not only after the next resync.
		a.mu.Lock()
		if slices.Contains(slices.Collect(maps.Values(a.dp.present)), false) {
			next = min(next, missingPoll)
		}
		a.mu.Unlock()
	}
	errs = append(errs, a.reconcileBGP())
	errs = append(errs, a.addPeers())
	return next, errors.Join(errs...)
}

// desiredState is the whole dataplane state: local interfaces, learned routes, the next hops
// of the learned routes as the VTEPs allowed to send overlay traffic, the peerings and the
// public VNI. Called
// with a.mu held.
func (a *Agent) desiredState() *dataplane.State {
	s := &dataplane.State{
		Interfaces: slices.Clone(a.local.Interfaces),
		Routes:     make([]route.Route, 0, len(a.rib.routes)),
		VTEPs:      make([]netip.Addr, 0, len(a.rib.vteps)),
		Peerings:   clonePeerings(a.local.Peerings),
		PublicVNI:  a.cfg.PublicVNI,
	}
	for r := range a.rib.routes {
		s.Routes = append(s.Routes, r)
	}
	for v := range a.rib.vteps {
		s.VTEPs = append(s.VTEPs, v)
	}
	return s
}

// apply hands the dataplane the desired state, without the agent's lock, and records which
// interface devices exist. After a failed Apply only what it reported missing changes: an
// interface it did not report on keeps its last known state.
func (a *Agent) apply(s dataplane.State, ribGen, localGen uint64) error {
	res, err := a.cfg.Dataplane.Apply(a.ctx, s)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Applies++
	missing := map[string]bool{}
	for _, name := range res.Missing {
		missing[name] = true
	}
	present := map[string]bool{}
	for _, iface := range s.Interfaces {
		switch known, ok := a.dp.present[iface.Name]; {
		case missing[iface.Name]:
			present[iface.Name] = false
		case err == nil:
			present[iface.Name] = true
		case ok:
			present[iface.Name] = known
		}
	}
	a.dp.present = present
	if err != nil {
		a.dp.failing = true
		a.stats.DataplaneErrors++
		return fmt.Errorf("dataplane: %w", err)
	}
	a.dp = dataplaneState{present: present, applied: true, ribGen: ribGen, localGen: localGen, last: time.Now()}
	a.stats.Installed = len(s.Routes)
	return nil
}

// reconcileBGP adds and removes announcements and memberships in GoBGP's table until they match
// the desired ones. It calls GoBGP without the agent's lock and records each call that worked;
// what failed is retried by the next pass.
func (a *Agent) reconcileBGP() error {
	a.mu.Lock()
	routes, members := map[route.Route]bool{}, map[uint32]bool{}
	for _, iface := range a.local.Interfaces {
		members[iface.VNI] = true
		if iface.Public() {
			// Learn where the other public addresses are: the replies of the interface's
			// public traffic leave through P.
			members[a.cfg.PublicVNI] = true
		}
		if a.announceable(iface.Name) {
			for _, r := range a.interfaceRoutes(iface) {
				routes[r] = true
			}
		}
	}
	for _, r := range a.local.Routes {
		routes[r] = true
	}
	for _, vni := range a.local.Subscriptions {
		members[vni] = true
	}
	// A peered VNI's routes are reachable from the importing VNI, so they must be learned.
	for _, peers := range a.local.Peerings {
		for _, vni := range peers {
			members[vni] = true
		}
	}
	addR, delR := diff(routes, a.bgpIn)
	addM, delM := diff(members, a.rtIn)
	a.mu.Unlock()

	var errs []error
	// Memberships first: routes of a new VNI are asked for before ours are offered.
	for _, vni := range addM {
		errs = append(errs, a.member(vni, true))
	}
	for _, r := range addR {
		errs = append(errs, a.announce(r, true))
	}
	for _, r := range delR {
		errs = append(errs, a.announce(r, false))
	}
	for _, vni := range delM {
		errs = append(errs, a.member(vni, false))
	}
	return errors.Join(errs...)
}

func diff[K comparable](want, have map[K]bool) (add, del []K) {
	for k := range want {
		if !have[k] {
			add = append(add, k)
		}
	}
	for k := range have {
		if !want[k] {
			del = append(del, k)
		}
	}
	return add, del
}

func (a *Agent) announce(r route.Route, on bool) error {
	p, err := route.ToAPI(r, a.cfg.RouterID)
	if err == nil {
		err = a.addOrDelete(p, route.Family, on)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.stats.BGPErrors++
		return fmt.Errorf("announce %s (%t): %w", r, on, err)
	}
	if on {
		a.bgpIn[r] = true
	} else {
		delete(a.bgpIn, r)
	}
	return nil
}

func (a *Agent) member(vni uint32, on bool) error {
	p, err := route.Membership(vni, a.cfg.RouterID)
	if err == nil {
		err = a.addOrDelete(p, route.SubscriptionFamily, on)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.stats.BGPErrors++
		return fmt.Errorf("subscribe to vni %d (%t): %w", vni, on, err)
	}
	if on {
		a.rtIn[vni] = true
	} else {
		delete(a.rtIn, vni)
	}
	return nil
}

func (a *Agent) addOrDelete(p *api.Path, family *api.Family, add bool) error {
	if add {
		_, err := a.bgp.AddPath(a.ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
		return err
	}
	return a.bgp.DeletePath(a.ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: family, Path: p})
}

// addPeers opens the sessions to the reflectors not yet configured. It runs after the first
// announcements are in GoBGP's table, so a restarted agent's first update carries its routes
// before its End-of-RIB: the reflectors replace the copies they kept instead of dropping them.
func (a *Agent) addPeers() error {
	var errs []error
	for _, rr := range a.cfg.Reflectors {
		a.mu.Lock()
		done := a.sync.peers[rr]
		a.mu.Unlock()
		if done {
			continue
		}
		if err := a.bgp.AddPeer(a.ctx, &api.AddPeerRequest{Peer: a.peer(rr)}); err != nil {
			errs = append(errs, fmt.Errorf("peer with reflector %s: %w", rr, err))
			continue
		}
		a.mu.Lock()
		if a.sync.peers == nil {
			a.sync.peers = map[netip.AddrPort]bool{}
		}
		a.sync.peers[rr] = true
		a.mu.Unlock()
	}
	return errors.Join(errs...)
}
