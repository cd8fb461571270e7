package agent_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/lab"
)

// A peering makes the agent subscribe to the peered VNI, install its routes and hand the
// peering to the dataplane; removing it undoes all three.
func TestPeeringSubscribesAndReachesState(t *testing.T) {
	l := newLab(t)
	rr := startReflector(t, l, 1)
	defer rr.Stop()
	a, b := startHost(t, l, 1, 1), startHost(t, l, 2, 1)
	a.nic(t, 100)
	rb := b.nic(t, 200)
	settle()
	if a.dp.Has(rb) {
		t.Fatal("agent in vni 100 learned a route of vni 200 without a peering")
	}

	peerings := map[uint32][]uint32{100: {200}}
	a.setLocal(t, func(l *agent.Local) { l.Peerings = peerings })
	a.waitHas(t, rb)
	if got := a.Subscriptions(); !slices.Equal(got, []uint32{100, 200}) {
		t.Errorf("subscriptions with a peering: %v, want [100 200]", got)
	}
	ok := lab.Eventually(wait, func() bool {
		return maps.EqualFunc(a.dp.Peerings(), peerings, slices.Equal[[]uint32])
	})
	if !ok {
		t.Errorf("dataplane peerings %v, want %v", a.dp.Peerings(), peerings)
	}

	a.setLocal(t, func(l *agent.Local) { l.Peerings = nil })
	a.waitLacks(t, rb)
	if got := a.Subscriptions(); !slices.Equal(got, []uint32{100}) {
		t.Errorf("subscriptions after the peering went: %v, want [100]", got)
	}
	if got := a.dp.Peerings(); len(got) != 0 {
		t.Errorf("dataplane peerings after the peering went: %v", got)
	}
}

func TestPeeringValidation(t *testing.T) {
	l := newLab(t)
	a := startHost(t, l, 1)
	for name, p := range map[string]map[uint32][]uint32{
		"self":              {100: {100}},
		"importer zero":     {0: {200}},
		"peer out of range": {100: {1 << 24}},
	} {
		if err := a.SetLocal(context.Background(), agent.Local{Peerings: p}); err == nil {
			t.Errorf("%s: peerings %v accepted", name, p)
		}
	}
}
