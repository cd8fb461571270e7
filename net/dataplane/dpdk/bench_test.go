package dpdk_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	"github.com/ferrite-dev/ferrite/net/route"
)

// BenchmarkApplyUnchanged measures the periodic re-apply of 10,000 routes that the fast path
// already holds: one listing and a diff, no changes.
func BenchmarkApplyUnchanged(b *testing.B) {
	fp := newFastPath()
	d := dial(b, fp.serve(b))
	var s dataplane.State
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		s.Routes = append(s.Routes, route.Route{VNI: 100, Prefix: netip.PrefixFrom(a, 32), NextHop: netip.MustParseAddr("192.0.2.2")})
	}
	ctx := context.Background()
	if _, err := d.ApplyServices(ctx, s, dpdk.Services{}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := d.ApplyServices(ctx, s, dpdk.Services{}); err != nil {
			b.Fatal(err)
		}
	}
}
