// Package memory is a Dataplane that only remembers what it was told: it stands in for a real
// dataplane in agent tests and route benchmarks.
package memory

import (
	"context"
	"slices"
	"sync"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Dataplane records interfaces and routes. The zero value is ready to use.
type Dataplane struct {
	mu         sync.Mutex
	routes     map[route.Route]bool
	interfaces map[string]dataplane.Interface
	changed    chan struct{}
	adds       int
	deletes    int
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// AddInterface records iface.
func (d *Dataplane) AddInterface(_ context.Context, iface dataplane.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.interfaces == nil {
		d.interfaces = map[string]dataplane.Interface{}
	}
	d.interfaces[iface.Name] = iface
	d.notify()
	return nil
}

// DeleteInterface forgets iface.
func (d *Dataplane) DeleteInterface(_ context.Context, iface dataplane.Interface) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.interfaces, iface.Name)
	d.notify()
	return nil
}

// AddRoute records r.
func (d *Dataplane) AddRoute(_ context.Context, r route.Route) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.routes == nil {
		d.routes = map[route.Route]bool{}
	}
	d.routes[r] = true
	d.adds++
	d.notify()
	return nil
}

// DeleteRoute forgets r.
func (d *Dataplane) DeleteRoute(_ context.Context, r route.Route) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.routes, r)
	d.deletes++
	d.notify()
	return nil
}

// Routes returns the recorded routes in a stable order.
func (d *Dataplane) Routes() []route.Route {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]route.Route, 0, len(d.routes))
	for r := range d.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b route.Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.NextHop.Compare(b.NextHop)
	})
	return out
}

// Len returns the number of recorded routes.
func (d *Dataplane) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.routes)
}

// Has reports whether r is recorded.
func (d *Dataplane) Has(r route.Route) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.routes[r]
}

// Changed returns a channel that receives (without blocking the dataplane) after each change.
func (d *Dataplane) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{}, 1)
	}
	return d.changed
}

func (d *Dataplane) notify() {
	if d.changed == nil {
		return
	}
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// Calls returns how many times AddRoute and DeleteRoute were called.
func (d *Dataplane) Calls() (adds, deletes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.adds, d.deletes
}
