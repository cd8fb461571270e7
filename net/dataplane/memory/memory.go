// Package memory is a Dataplane that only remembers the last state it was given: it stands in
// for a real dataplane in agent tests and route benchmarks.
package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Dataplane records the last applied state. The zero value is ready to use.
type Dataplane struct {
	mu      sync.Mutex
	state   dataplane.State
	routes  map[route.Route]bool
	missing map[string]bool
	err     error
	changed chan struct{}
	applies int
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// Apply records s (a copy) and reports as missing the interfaces named by SetMissing. It
// returns the error set by SetError, after recording, as a real dataplane applies what it can.
func (d *Dataplane) Apply(_ context.Context, s dataplane.State) (dataplane.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state = dataplane.State{
		Interfaces: slices.Clone(s.Interfaces),
		Routes:     slices.Clone(s.Routes),
		VTEPs:      slices.Clone(s.VTEPs),
		Peerings:   clonePeerings(s.Peerings),
		PublicVNI:  s.PublicVNI,
	}
	d.routes = make(map[route.Route]bool, len(s.Routes))
	for _, r := range s.Routes {
		d.routes[r] = true
	}
	var res dataplane.Result
	for _, i := range s.Interfaces {
		if d.missing[i.Name] {
			res.Missing = append(res.Missing, i.Name)
		}
	}
	d.applies++
	if d.changed != nil {
		select {
		case d.changed <- struct{}{}:
		default:
		}
	}
	return res, d.err
}

// SetMissing makes Apply report the named interfaces as missing (replacing earlier names),
// as if their devices did not exist yet.
func (d *Dataplane) SetMissing(names ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.missing = map[string]bool{}
	for _, n := range names {
		d.missing[n] = true
	}
}

// SetError makes every following Apply fail with err (nil: succeed again).
func (d *Dataplane) SetError(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// State returns a copy of the last applied state.
func (d *Dataplane) State() dataplane.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return dataplane.State{
		Interfaces: slices.Clone(d.state.Interfaces),
		Routes:     slices.Clone(d.state.Routes),
		VTEPs:      slices.Clone(d.state.VTEPs),
		Peerings:   clonePeerings(d.state.Peerings),
		PublicVNI:  d.state.PublicVNI,
	}
}

// clonePeerings copies a peering map deeply, so neither the caller nor a reader of State can
// change what was recorded.
func clonePeerings(p map[uint32][]uint32) map[uint32][]uint32 {
	if p == nil {
		return nil
	}
	out := make(map[uint32][]uint32, len(p))
	for vni, peers := range p {
		out[vni] = slices.Clone(peers)
	}
	return out
}

// Routes returns the routes of the last applied state, without duplicates, in a stable order.
func (d *Dataplane) Routes() []route.Route {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]route.Route, 0, len(d.routes))
	for r := range d.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, compareRoutes)
	return out
}

func compareRoutes(a, b route.Route) int {
	if a.VNI != b.VNI {
		return int(a.VNI) - int(b.VNI)
	}
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	if a.Prefix.Bits() != b.Prefix.Bits() {
		return a.Prefix.Bits() - b.Prefix.Bits()
	}
	if c := a.NextHop.Compare(b.NextHop); c != 0 {
		return c
	}
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	return int(a.PortMin) - int(b.PortMin)
}

// Len returns the number of distinct routes in the last applied state.
func (d *Dataplane) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.routes)
}

// Has reports whether r is in the last applied state.
func (d *Dataplane) Has(r route.Route) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.routes[r]
}

// Changed returns a channel that receives (without blocking Apply) after each Apply.
func (d *Dataplane) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{}, 1)
	}
	return d.changed
}

// Applies returns how many times Apply was called.
func (d *Dataplane) Applies() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applies
}
