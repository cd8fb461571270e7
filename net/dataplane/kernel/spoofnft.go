package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// Registers of a concatenated key: the interface name fills NFT_REG_1 (16 bytes, the 32-bit
// registers 8-11), the address follows in the 32-bit register 12 (NFT_REG32_04).
const (
	regName = 1
	regAddr = 12
)

// addAntiSpoof adds the source check of the guests' interfaces (those of the state outside the
// public VNI, whose devices stand for the outside world and forward any source) to the table
// being written (see syncNFT):
//
//	set guests       { type ifname; the state's interfaces outside the public VNI }
//	set guest_addrs4 { type ifname . ipv4_addr; flags interval; <if> . <owned IPv4 prefix> }
//	set guest_addrs6 { type ifname . ipv6_addr; flags interval; <if> . <owned IPv6 prefix> }
//	chain antispoof { type filter hook prerouting priority raw; policy accept;
//	  iifname "fr*" iifname != @interfaces drop      # a tap the state does not know (yet)
//	  iifname @guests meta nfproto ipv4 iifname . ip saddr != @guest_addrs4 drop
//	  iifname @guests meta nfproto ipv6 ip6 saddr != fe80::/10 iifname . ip6 saddr != @guest_addrs6 drop
//	}
//
// At priority raw (before conntrack and NAT) a spoofed packet creates no connection and no
// NAT mapping. The cost per packet is a few set lookups, whatever the number of interfaces.
// An interface without addresses sends no IP at all, except from IPv6 link-local addresses
// (which the kernel never forwards). DHCP and neighbour/router solicitations are answered on
// packet sockets, which see frames before this hook; ARP is not IP.
func addAntiSpoof(c *nftables.Conn, t *nftables.Table, interfaces []dataplane.Interface, known *nftables.Set, publicVNI uint32) error {
	var names, v4, v6 []nftables.SetElement
	for _, i := range interfaces {
		if publicVNI != 0 && i.VNI == publicVNI {
			continue
		}
		names = append(names, nftables.SetElement{Key: ifname(i.Name)})
		for _, p := range ownedPrefixes(i.Addresses) {
			e := nftables.SetElement{Key: slices.Concat(ifname(i.Name), p.Masked().Addr().AsSlice()),
				KeyEnd: slices.Concat(ifname(i.Name), lastAddr(p.Masked()).AsSlice())}
			if p.Addr().Is4() {
				v4 = append(v4, e)
			} else {
				v6 = append(v6, e)
			}
		}
	}
	guests := &nftables.Set{Table: t, Name: "guests", KeyType: nftables.TypeIFName}
	addrs4 := &nftables.Set{Table: t, Name: "guest_addrs4", Interval: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIPAddr)}
	addrs6 := &nftables.Set{Table: t, Name: "guest_addrs6", Interval: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIP6Addr)}
	var errs []error
	for _, s := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{{guests, names}, {addrs4, v4}, {addrs6, v6}} {
		if err := c.AddSet(s.set, s.elems); err != nil {
			errs = append(errs, fmt.Errorf("nftables set %s: %w", s.set.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	prio, accept := nftables.ChainPriority(*nftables.ChainPriorityRaw), nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "antispoof", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: &prio, Policy: &accept})
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	rule := func(parts ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(parts...)})
	}
	family := func(f byte) []expr.Any {
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f}}}
	}
	// notOwned is `iifname . <saddr> != @set`, the source being len bytes at off.
	notOwned := func(s *nftables.Set, off, len uint32) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: regName},
			&expr.Payload{DestRegister: regAddr, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: len},
			&expr.Lookup{SourceRegister: regName, SetName: s.Name, SetID: s.ID, Invert: true},
		}
	}
	isGuest := []expr.Any{iif(), lookup(guests)}

	rule([]expr.Any{iif(), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(devicePrefixes[0])},
		iif(), &expr.Lookup{SourceRegister: 1, SetName: known.Name, SetID: known.ID, Invert: true}}, drop)
	rule(isGuest, family(unix.NFPROTO_IPV4), notOwned(addrs4, 12, 4), drop)
	rule(isGuest, family(unix.NFPROTO_IPV6), []expr.Any{
		// fe80::/10: the first 10 bits of the source.
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 2},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: []byte{0xff, 0xc0}, Xor: []byte{0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0xfe, 0x80}},
	}, notOwned(addrs6, 8, 16), drop)
	return nil
}

// ownedPrefixes returns the prefixes of an interface without those inside another of them
// (an interval set refuses overlapping elements), sorted.
func ownedPrefixes(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		p = p.Masked()
		inside := slices.ContainsFunc(ps, func(q netip.Prefix) bool {
			q = q.Masked()
			return q != p && q.Bits() < p.Bits() && q.Contains(p.Addr())
		})
		if !inside && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}
