// Package ipam allocates IP ranges and addresses from Prefixes: child Prefixes from their parent,
// NetworkInterface addresses from their network's prefix (or the prefix an IP source names), and
// VirtualIPs from the public prefix.
//
// A parent Prefix's status.used is the ledger: every allocation appends its CIDR there with a
// resourceVersion precondition before the owner records it, so two allocators can never hand out
// the same range. The owner (a child's spec.prefix, an interface's status.ips, a virtual IP's
// status.ip) is written within a bounded time of the reservation. An allocator whose owner write
// lost a resourceVersion race gives its reservation back itself (Ledger.GiveBack). Entries that
// no owner claims any more (the owner was deleted, or an allocator crashed before recording it)
// are released by Releaser, which never frees a range whose owner may still be written.
package ipam

import (
	"math/big"
	"net/netip"
	"sort"
)

// Allocate returns the first range of length bits inside parent that overlaps none of used.
// For single addresses (bits equal to the address length) the parent's network address, and for
// IPv4 its broadcast address, are skipped unless the parent is that small.
func Allocate(parent netip.Prefix, used []netip.Prefix, bits int) (netip.Prefix, bool) {
	parent = parent.Masked()
	width := parent.Addr().BitLen()
	if bits < parent.Bits() || bits > width {
		return netip.Prefix{}, false
	}
	taken := make([]netip.Prefix, 0, len(used)+2)
	for _, u := range used {
		if u.Overlaps(parent) {
			taken = append(taken, u.Masked())
		}
	}
	if bits == width && width-parent.Bits() >= 2 {
		taken = append(taken, netip.PrefixFrom(parent.Addr(), width))
		if parent.Addr().Is4() {
			taken = append(taken, netip.PrefixFrom(lastAddr(parent), width))
		}
	}
	sort.Slice(taken, func(i, j int) bool { return taken[i].Addr().Less(taken[j].Addr()) })
	size := new(big.Int).Lsh(big.NewInt(1), uint(width-bits))
	cursor := toInt(parent.Addr())
	end := toInt(lastAddr(parent))
	for _, t := range taken {
		candidate := alignUp(cursor, size)
		candidateEnd := new(big.Int).Sub(new(big.Int).Add(candidate, size), big.NewInt(1))
		if candidateEnd.Cmp(toInt(t.Addr())) < 0 {
			break
		}
		if next := new(big.Int).Add(toInt(lastAddr(t)), big.NewInt(1)); next.Cmp(cursor) > 0 {
			cursor = next
		}
	}
	candidate := alignUp(cursor, size)
	candidateEnd := new(big.Int).Sub(new(big.Int).Add(candidate, size), big.NewInt(1))
	if candidateEnd.Cmp(end) > 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(fromInt(candidate, parent.Addr().Is4()), bits), true
}

// Overlaps reports whether p overlaps any of used.
func Overlaps(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

// HostPrefix is the single-address prefix of addr (/32 or /128).
func HostPrefix(addr netip.Addr) netip.Prefix {
	return netip.PrefixFrom(addr, addr.BitLen())
}

func lastAddr(p netip.Prefix) netip.Addr {
	width := p.Addr().BitLen()
	hostBits := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(width-p.Bits())), big.NewInt(1))
	return fromInt(new(big.Int).Add(toInt(p.Masked().Addr()), hostBits), p.Addr().Is4())
}

func alignUp(x, size *big.Int) *big.Int {
	rem := new(big.Int).Mod(x, size)
	if rem.Sign() == 0 {
		return new(big.Int).Set(x)
	}
	return new(big.Int).Add(new(big.Int).Sub(x, rem), size)
}

func toInt(a netip.Addr) *big.Int {
	b := a.AsSlice()
	return new(big.Int).SetBytes(b)
}

func fromInt(x *big.Int, is4 bool) netip.Addr {
	n := 16
	if is4 {
		n = 4
	}
	b := make([]byte, n)
	x.FillBytes(b)
	addr, _ := netip.AddrFromSlice(b)
	return addr
}

// ParsePrefixes parses CIDRs, skipping malformed entries.
func ParsePrefixes(cidrs []string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}
