package vni

import (
	"testing"
	"time"
)

// TestClaimRoundTrip checks claims decode as written, that claims of earlier versions
// ("namespace/name") still name their network, and whom a claim counts as held by.
func TestClaimRoundTrip(t *testing.T) {
	holder := Holder{Namespace: "a", Name: "net", UID: "uid-1"}
	live := decodeClaim(7, []byte(encodeClaim(holder, nil)), 3)
	if live.VNI != 7 || live.Holder != holder || live.Released != nil || live.Revision != 3 {
		t.Fatalf("live claim decoded as %+v", live)
	}
	if !live.HeldBy(holder) || live.HeldBy(Holder{Namespace: "a", Name: "net", UID: "uid-2"}) || live.HeldBy(Holder{Namespace: "b", Name: "net", UID: "uid-1"}) {
		t.Errorf("HeldBy must match namespace, name and UID")
	}
	when := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	released := decodeClaim(7, []byte(encodeClaim(holder, &when)), 4)
	if released.Released == nil || !released.Released.Equal(when) || released.HeldBy(holder) {
		t.Errorf("released claim decoded as %+v; a released claim is held by nobody", released)
	}
	legacy := decodeClaim(8, []byte("a/net"), 5)
	if legacy.Holder != (Holder{Namespace: "a", Name: "net"}) || !legacy.HeldBy(holder) {
		t.Errorf("legacy claim decoded as %+v; it must be held by any network of that name", legacy)
	}
}

// TestAdvanceWraps checks the cursor skips taken VNIs and wraps around the configured range.
func TestAdvanceWraps(t *testing.T) {
	a := NewAllocator(nil, "/claims", Options{Min: 10, Max: 12})
	taken := map[int32]bool{10: true, 12: true}
	var got []int32
	for range 3 {
		got = append(got, a.advance(func(v int32) bool { return taken[v] }))
	}
	if got[0] != 11 || got[1] != 11 || got[2] != 11 {
		t.Errorf("with 10 and 12 taken, advance gave %v, want 11 each time", got)
	}
	if next, wrapped := a.advance(nil), a.advance(nil); next != 12 || wrapped != 10 {
		t.Errorf("without a check the cursor gave %d then %d, want 12 then 10 (wrapped)", next, wrapped)
	}
}
