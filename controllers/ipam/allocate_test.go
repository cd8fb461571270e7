package ipam

import (
	"net/netip"
	"testing"
)

func TestAllocate(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name   string
		parent string
		used   []string
		bits   int
		want   string
	}{
		{"first /24 of a /16", "10.0.0.0/16", nil, 24, "10.0.0.0/24"},
		{"skips used", "10.0.0.0/16", []string{"10.0.0.0/24", "10.0.1.0/24"}, 24, "10.0.2.0/24"},
		{"fills a gap", "10.0.0.0/16", []string{"10.0.0.0/24", "10.0.2.0/24"}, 24, "10.0.1.0/24"},
		{"aligns after a smaller range", "10.0.0.0/16", []string{"10.0.0.0/25"}, 24, "10.0.1.0/24"},
		{"address skips network", "10.0.0.0/24", nil, 32, "10.0.0.1/32"},
		{"address after used", "10.0.0.0/24", []string{"10.0.0.1/32", "10.0.0.2/32"}, 32, "10.0.0.3/32"},
		{"ipv6", "2001:db8::/48", []string{"2001:db8::/64"}, 64, "2001:db8:0:1::/64"},
		{"ipv6 address", "2001:db8::/64", nil, 128, "2001:db8::1/128"},
		{"full", "10.0.0.0/30", []string{"10.0.0.1/32", "10.0.0.2/32"}, 32, ""},
		{"too large", "10.0.0.0/24", nil, 16, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var used []netip.Prefix
			for _, u := range tt.used {
				used = append(used, p(u))
			}
			got, ok := Allocate(p(tt.parent), used, tt.bits)
			if tt.want == "" {
				if ok {
					t.Fatalf("allocated %s from a full parent", got)
				}
				return
			}
			if !ok || got != p(tt.want) {
				t.Fatalf("Allocate = %s, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

// Allocating a whole /24 address by address hands out 254 distinct addresses, then none.
func TestAllocateExhaustsWithoutDuplicates(t *testing.T) {
	parent := netip.MustParsePrefix("192.168.7.0/24")
	var used []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for {
		got, ok := Allocate(parent, used, 32)
		if !ok {
			break
		}
		if seen[got] || !parent.Contains(got.Addr()) {
			t.Fatalf("duplicate or outside: %s", got)
		}
		seen[got] = true
		used = append(used, got)
	}
	if len(seen) != 254 {
		t.Fatalf("%d addresses, want 254", len(seen))
	}
}
