package dpdk_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

func TestOtherContractVersionRefused(t *testing.T) {
	fp := newFastPath()
	fp.version = "ferrite.net.fastpath.v1"
	d := dial(t, fp.serve(t))
	_, err := d.Apply(context.Background(), dataplane.State{})
	if err == nil || !strings.Contains(err.Error(), `speaks "ferrite.net.fastpath.v1"`) {
		t.Errorf("apply against a v1 fast path: %v", err)
	}
	if got := fp.count()["Initialize"]; got != 0 {
		t.Errorf("a fast path of another version was initialized %d times", got)
	}
}

// TestReinitializedElsewhere: whoever re-initializes the fast path (another underlay, a new
// identity) empties it; the next Apply notices and puts the state back under this host's
// underlay.
func TestReinitializedElsewhere(t *testing.T) {
	fp := newFastPath()
	d := dial(t, fp.serve(t))
	s, svc := full()
	apply(t, d, s, svc)
	if _, err := fp.Initialize(context.Background(), &pb.InitializeRequest{Underlay: netip.MustParseAddr("198.51.100.1").AsSlice()}); err != nil {
		t.Fatal(err)
	}
	fp.count()
	apply(t, d, s, svc)
	if got := fp.count()["Initialize"]; got != 1 {
		t.Errorf("fast path with another underlay initialized %d times, want 1", got)
	}
	st, _ := fp.CheckInitialized(context.Background(), &pb.CheckInitializedRequest{})
	if a, _ := dpdk.AddrFromProto(st.GetUnderlay()); a != underlay || st.GetIdentity() == "picked-by-fast-path" {
		t.Errorf("fast path underlay %v identity %q, want %v and the agent's proposal", a, st.GetIdentity(), underlay)
	}
	if got := fp.sizes(); got != fullSizes {
		t.Errorf("fast path holds %s, want %s", got, fullSizes)
	}
}
