package agent

import (
	"cmp"
	"iter"
	"maps"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"

	"github.com/ferrite-dev/ferrite/net/route"
)

// onPaths handles best-path changes. GoBGP keeps one best path per route key (route
// distinguisher, tag and prefix): routes of different originators are different keys, so every
// next hop of a prefix is kept (ECMP), while the copies of one route reflected by two
// reflectors share a key. When one reflector goes away the other's copy becomes best and the
// decoded route is unchanged, so the dataplane sees nothing; only the last copy's withdrawal
// removes a route.
func (a *Agent) onPaths(paths []*api.Path) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range paths {
		if p.Family.GetAfi() != route.Family.Afi || p.Family.GetSafi() != route.Family.Safi {
			continue
		}
		nlri, err := apiutil.GetNativeNlri(p)
		if err != nil {
			a.stats.Undecodable++
			continue
		}
		key := nlri.String()
		if p.IsWithdraw {
			a.forget(key)
			continue
		}
		attrs, err := apiutil.GetNativePathAttributes(p)
		if err != nil {
			a.stats.Undecodable++
			a.forget(key)
			continue
		}
		r, originator, err := route.Decode(nlri, attrs)
		if originator == a.cfg.RouterID {
			// Our own route: the local copy is best (not an echo), or a reflector sent it
			// back, which route reflection forbids; either way it is never installed.
			if p.IsFromExternal {
				a.stats.Echoes++
			}
			continue
		}
		if err != nil {
			a.stats.Undecodable++
			a.log.Debug("ignoring path that is no Ferrite route", "key", key, "err", err)
			a.forget(key)
			continue
		}
		a.learn(key, r)
	}
}

func (a *Agent) learn(key string, r route.Route) {
	old, had := a.learned[key]
	if had && old == r {
		return
	}
	a.learned[key] = r
	a.installed[r]++
	if a.installed[r] == 1 {
		if err := a.cfg.Dataplane.AddRoute(a.ctx, r); err != nil {
			a.stats.DataplaneErrors++
			a.log.Error("install route", "route", r, "err", err)
		}
	}
	if had {
		a.release(old)
	}
}

func (a *Agent) forget(key string) {
	old, had := a.learned[key]
	if !had {
		return
	}
	delete(a.learned, key)
	a.release(old)
}

func (a *Agent) release(r route.Route) {
	a.installed[r]--
	if a.installed[r] > 0 {
		return
	}
	delete(a.installed, r)
	if err := a.cfg.Dataplane.DeleteRoute(a.ctx, r); err != nil {
		a.stats.DataplaneErrors++
		a.log.Error("remove route", "route", r, "err", err)
	}
}

// Learned lists the routes learned from other agents and installed in the dataplane.
func (a *Agent) Learned() []route.Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedRoutes(maps.Keys(a.installed))
}

// LearnedCount returns how many distinct routes are installed, without copying them.
func (a *Agent) LearnedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.installed)
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
