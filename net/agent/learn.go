package agent

import (
	"cmp"
	"encoding/binary"
	"iter"
	"maps"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/ferrite-dev/ferrite/net/route"
)

// pathKey is what GoBGP keys a best path by: the type-5 route's distinguisher, Ethernet tag
// and prefix, kept as fixed-size values rather than a string (it is one per learned route).
type pathKey struct {
	rd     uint64
	tag    uint32
	prefix netip.Prefix
}

// rib is what the agent learned: the route of every best path, and each route and next hop
// counted over the keys that lead to it (two keys may decode to one route), so that building
// the dataplane state never has to deduplicate.
type rib struct {
	paths  map[pathKey]route.Route
	routes map[route.Route]uint32
	vteps  map[netip.Addr]uint32
	gen    uint64 // bumped on every change of routes
}

func newRIB() rib {
	return rib{paths: map[pathKey]route.Route{}, routes: map[route.Route]uint32{}, vteps: map[netip.Addr]uint32{}}
}

func (r *rib) learn(k pathKey, rt route.Route) {
	if old, had := r.paths[k]; had {
		if old == rt {
			return
		}
		r.release(old)
	}
	r.paths[k] = rt
	r.routes[rt]++
	r.vteps[rt.NextHop]++
	r.gen++
}

func (r *rib) forget(k pathKey) {
	if old, had := r.paths[k]; had {
		delete(r.paths, k)
		r.release(old)
		r.gen++
	}
}

func (r *rib) release(rt route.Route) {
	if r.routes[rt]--; r.routes[rt] == 0 {
		delete(r.routes, rt)
	}
	if r.vteps[rt.NextHop]--; r.vteps[rt.NextHop] == 0 {
		delete(r.vteps, rt.NextHop)
	}
}

// learned is one decoded best-path change.
type learned struct {
	key      pathKey
	route    route.Route
	withdraw bool
}

// onPaths handles best-path changes and End-of-RIB markers. GoBGP keeps one best path per
// route key: routes of different originators are different keys, so every next hop of a prefix
// is kept (ECMP), while the copies of one route reflected by two reflectors share a key. When
// one reflector goes away the other's copy becomes best and the decoded route is unchanged; only
// the last copy's withdrawal removes a route. Decoding happens outside the agent's lock; the
// lock is held only to update the maps, and the dataplane is left to the reconcile loop.
func (a *Agent) onPaths(paths []*api.Path) {
	var batch []learned
	eor, undecodable := false, 0
	for _, p := range paths {
		if p.GetFamily().GetAfi() != route.Family.Afi || p.GetFamily().GetSafi() != route.Family.Safi {
			continue
		}
		if p.Nlri == nil { // End-of-RIB: a reflector has sent its whole table
			eor = true
			continue
		}
		l, keyed, bad := a.decode(p)
		if bad {
			undecodable++
		}
		if keyed {
			batch = append(batch, l)
		}
	}
	a.mu.Lock()
	gen := a.rib.gen
	for _, l := range batch {
		if l.withdraw {
			a.rib.forget(l.key)
		} else {
			a.rib.learn(l.key, l.route)
		}
	}
	a.stats.Undecodable += uint64(undecodable)
	changed := a.rib.gen != gen
	if eor && !a.sync.done {
		a.sync.done = true
		a.log.Info("reflector sent its routes (End-of-RIB): dataplane sync may start", "routes", len(a.rib.routes))
		changed = true
	}
	a.mu.Unlock()
	if changed {
		a.wake()
	}
}

// decode turns a path into a learned change: keyed when the path has a type-5 key, bad when it
// is no Ferrite route (then it is a withdrawal: whatever the key held before is gone). The
// agent's own routes (its local copies are best paths too) are withdrawals of nothing: it never
// installs them.
func (a *Agent) decode(p *api.Path) (l learned, keyed, bad bool) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return l, false, true
	}
	k, ok := keyOf(nlri)
	if !ok {
		return l, false, true
	}
	l = learned{key: k, withdraw: true}
	if p.IsWithdraw {
		return l, true, false
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return l, true, true
	}
	r, originator, err := route.Decode(nlri, attrs)
	if originator == a.cfg.RouterID {
		return l, true, false
	}
	if err != nil {
		a.log.Debug("ignoring path that is no Ferrite route", "nlri", nlri, "err", err)
		return l, true, true
	}
	return learned{key: k, route: r}, true, false
}

// keyOf reads the key of a type-5 route; other NLRIs are none of the agent's business.
func keyOf(nlri bgp.AddrPrefixInterface) (pathKey, bool) {
	evpn, ok := nlri.(*bgp.EVPNNLRI)
	if !ok {
		return pathKey{}, false
	}
	t5, ok := evpn.RouteTypeData.(*bgp.EVPNIPPrefixRoute)
	if !ok || t5.RD == nil {
		return pathKey{}, false
	}
	rd, err := t5.RD.Serialize()
	if err != nil || len(rd) != 8 {
		return pathKey{}, false
	}
	addr, ok := netip.AddrFromSlice(t5.IPPrefix)
	if !ok {
		return pathKey{}, false
	}
	addr = addr.Unmap()
	return pathKey{rd: binary.BigEndian.Uint64(rd), tag: t5.ETag, prefix: netip.PrefixFrom(addr, int(t5.IPPrefixLength))}, true
}

// Learned lists the routes learned from other agents (installed by the next Apply, if not yet).
func (a *Agent) Learned() []route.Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedRoutes(maps.Keys(a.rib.routes))
}

// LearnedCount returns how many distinct routes are learned, without copying them.
func (a *Agent) LearnedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.rib.routes)
}

func sortedRoutes(seq iter.Seq[route.Route]) []route.Route {
	return slices.SortedFunc(seq, func(x, y route.Route) int {
		return cmp.Or(
			cmp.Compare(x.VNI, y.VNI),
			x.Prefix.Addr().Compare(y.Prefix.Addr()),
			cmp.Compare(x.Prefix.Bits(), y.Prefix.Bits()),
			x.NextHop.Compare(y.NextHop),
			cmp.Compare(x.Kind, y.Kind),
			cmp.Compare(x.PortMin, y.PortMin),
		)
	})
}
