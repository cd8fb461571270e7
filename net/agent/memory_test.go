package agent

import (
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ferrite-dev/ferrite/net/route"
)

// TestMemoryPerLearnedRoute feeds the agent best paths as GoBGP hands them over and measures
// the heap the agent keeps per learned route (GoBGP's own table is not counted: it is the same
// for any speaker of these routes).
func TestMemoryPerLearnedRoute(t *testing.T) {
	const n, originators = 50_000, 100
	a := &Agent{
		cfg:  Config{RouterID: netip.MustParseAddr("192.0.2.1")},
		log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		kick: make(chan struct{}, 1),
		rib:  newRIB(),
	}
	before := heap()
	for batch := 0; batch < n; batch += 1000 {
		paths := make([]*api.Path, 0, 1000)
		for i := batch; i < batch+1000; i++ {
			origin := netip.AddrFrom4([4]byte{198, 51, 100, byte(i % originators)})
			addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			p, err := route.ToAPI(route.Route{VNI: uint32(1 + i%10), Prefix: netip.PrefixFrom(addr, 32), NextHop: origin}, origin)
			if err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		a.onPaths(paths)
	}
	after := heap()
	if got := a.LearnedCount(); got != n {
		t.Fatalf("learned %d routes, want %d", got, n)
	}
	per := float64(after-before) / n
	t.Logf("agent heap per learned route: %.0f bytes (%d routes, %d next hops)", per, n, len(a.rib.vteps))
	if per > 1024 {
		t.Errorf("agent keeps %.0f bytes per learned route, want under 1 KiB", per)
	}
	runtime.KeepAlive(a)
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
