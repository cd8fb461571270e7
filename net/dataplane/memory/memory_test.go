package memory

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

func TestApplyRecordsLastState(t *testing.T) {
	var d Dataplane
	changed := d.Changed()
	r := route.Route{VNI: 7, Prefix: netip.MustParsePrefix("10.0.0.2/32"), NextHop: netip.MustParseAddr("192.0.2.2")}
	s := dataplane.State{
		Interfaces: []dataplane.Interface{{Name: "tap0", VNI: 7}, {Name: "tap1", VNI: 7}},
		Routes:     []route.Route{r, r},
		Peerings:   map[uint32][]uint32{7: {8}},
		PublicVNI:  route.MaxVNI,
	}
	d.SetMissing("tap1")
	res, err := d.Apply(context.Background(), s)
	if err != nil || len(res.Missing) != 1 || res.Missing[0] != "tap1" {
		t.Fatalf("apply: %v, missing %v", err, res.Missing)
	}
	<-changed
	if !d.Has(r) || d.Len() != 1 || len(d.State().Interfaces) != 2 || d.Applies() != 1 ||
		d.State().PublicVNI != route.MaxVNI {
		t.Fatalf("recorded %v, %d routes, %d applies", d.State(), d.Len(), d.Applies())
	}
	s.Peerings[7][0] = 9 // the caller's map changes after Apply: the record must not
	if got := d.State().Peerings; len(got) != 1 || len(got[7]) != 1 || got[7][0] != 8 {
		t.Fatalf("recorded peerings %v, want map[7:[8]]", got)
	}
	d.SetError(errors.New("boom"))
	if _, err := d.Apply(context.Background(), dataplane.State{}); err == nil {
		t.Fatal("SetError ignored")
	}
	if d.Has(r) || d.Len() != 0 {
		t.Fatal("a route not in the last state is still recorded")
	}
}
