package agent_test

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// recorder is a dataplane that keeps the state of its last successful Apply, can pretend that
// devices are missing or that Apply fails, and lets a test look at every state it is given.
type recorder struct {
	mu       sync.Mutex
	routes   map[route.Route]bool
	peerings map[uint32][]uint32 // of the last successful Apply
	applies  int
	fail     int             // how many of the next Applies fail
	missing  map[string]bool // interface devices that do not exist
	watch    func(dataplane.State)
}

func newRecorder() *recorder {
	return &recorder{routes: map[route.Route]bool{}, missing: map[string]bool{}}
}

// Apply records s, or fails when told to (then nothing changes, as if no call had worked).
func (r *recorder) Apply(_ context.Context, s dataplane.State) (dataplane.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies++
	if r.watch != nil {
		r.watch(s)
	}
	var res dataplane.Result
	for _, iface := range s.Interfaces {
		if r.missing[iface.Name] {
			res.Missing = append(res.Missing, iface.Name)
		}
	}
	if r.fail > 0 {
		r.fail--
		return res, errors.New("route 10.0.0.1/32: injected failure")
	}
	r.peerings = s.Peerings
	r.routes = map[route.Route]bool{}
	for _, rt := range s.Routes {
		r.routes[rt] = true
	}
	return res, nil
}

func (r *recorder) Has(rt route.Route) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.routes[rt]
}

func (r *recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.routes)
}

func (r *recorder) Routes() []route.Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []route.Route
	for rt := range r.routes {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b route.Route) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// Peerings returns the peerings of the last successful Apply.
func (r *recorder) Peerings() map[uint32][]uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peerings
}

func (r *recorder) set(f func(r *recorder)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// guard makes r remember, from the first state that holds all of rs, every later state that
// lacks one of them; lost returns those.
func (r *recorder) guard(rs ...route.Route) (lost func() []dataplane.State) {
	var seen bool
	var bad []dataplane.State
	r.set(func(r *recorder) {
		r.watch = func(s dataplane.State) {
			all := true
			for _, x := range rs {
				all = all && slices.Contains(s.Routes, x)
			}
			if all {
				seen = true
			} else if seen {
				bad = append(bad, s)
			}
		}
	})
	return func() []dataplane.State {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Clone(bad)
	}
}
