package kernel

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// addPublic adds the public services to the table being written (see syncNFT), when the host
// has any. With P the public VNI and M(v) = TenantMark(v):
//
//	set public_devices { type ifname; fvx<P> and the local interfaces in P }
//	set steer_interfaces { type ifname; the local interfaces in P and the public taps }
//	map tenant_marks { type ifname : mark; <tap> : M(its vni) }   # public taps
//	set public_sources { type ipv4_addr; VIPs, NAT and load-balancer addresses }
//	chain public-pre { type filter hook prerouting priority mangle; policy accept;
//	  iifname @public_devices meta mark set ct mark         # replies go back to their tenant
//	  meta mark set iifname map @tenant_marks              # a tenant's packets carry M(v)
//	  iifname @steer_interfaces ip daddr NATIP meta l4proto tcp|udp th dport MIN-MAX
//	    meta mark set meta mark & TenantBit | NATHopMark(k)  # and icmp echo ids
//	}
//	chain public-dnat { type nat hook prerouting priority dstnat; policy accept;
//	  iifname @public_devices ip daddr VIP meta mark set M(v) ct mark set M(v) dnat ip to NICIP
//	  iifname @public_devices ip daddr LBIP [meta l4proto p [th dport a-b]]
//	    meta mark set M(v) ct mark set M(v) dnat ip to numgen random mod n map { 0 : t0, … }
//	}
//	chain public-snat { type nat hook postrouting priority srcnat; policy accept;
//	  oifname @public_devices meta mark M(v) ip saddr NICIP ct mark set M(v) snat ip to VIP
//	  oifname @public_devices meta mark M(v) ip saddr NICIP ct mark set M(v) snat ip to NATIP:MIN-MAX
//	}
//	chain public-out { type filter hook postrouting priority srcnat + 100; policy accept;
//	  oifname @public_devices meta mark & TenantBit != 0 ip saddr != @public_sources drop
//	  oifname @public_devices meta mark & TenantBit != 0 meta nfproto ipv6 drop
//	  oifname "fvx*" meta mark set 0   # the VXLAN device routes the outer packet by the mark
//	}
//
// The anti-spoof filter checks tenant packets only (those carrying TenantBit): packets that
// arrive from the public VNI pass through unchanged (an edge forwards any outside source).
func addPublic(c *nftables.Conn, t *nftables.Table, pp *publicPlan) error {
	if !pp.active() {
		return nil
	}
	var errs []error
	named := func(s *nftables.Set, elems []nftables.SetElement) *nftables.Set {
		s.Table = t
		if err := c.AddSet(s, elems); err != nil {
			errs = append(errs, fmt.Errorf("nftables set %s: %w", s.Name, err))
		}
		return s
	}
	names := func(ns []string) []nftables.SetElement {
		var out []nftables.SetElement
		for _, n := range ns {
			out = append(out, nftables.SetElement{Key: ifname(n)})
		}
		return out
	}
	var tapNames []string
	var marks, sources []nftables.SetElement
	for _, tap := range pp.taps {
		tapNames = append(tapNames, tap.name)
		marks = append(marks, nftables.SetElement{Key: ifname(tap.name), Val: u32(TenantMark(tap.vni))})
	}
	for _, a := range pp.sources {
		sources = append(sources, nftables.SetElement{Key: a.AsSlice()})
	}
	devices := named(&nftables.Set{Name: "public_devices", KeyType: nftables.TypeIFName},
		names(append([]string{DeviceName(pp.vni)}, pp.devices...)))
	steerIfs := named(&nftables.Set{Name: "steer_interfaces", KeyType: nftables.TypeIFName},
		names(append(slices.Clone(pp.devices), tapNames...)))
	tenantMarks := named(&nftables.Set{Name: "tenant_marks", IsMap: true, KeyType: nftables.TypeIFName,
		DataType: nftables.TypeMark}, marks)
	publicSources := named(&nftables.Set{Name: "public_sources", KeyType: nftables.TypeIPAddr}, sources)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	inDevices := []expr.Any{iif(), lookup(devices)}
	outDevices := []expr.Any{oif(), lookup(devices)}
	ipv4 := []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}}}
	rule := func(ch *nftables.Chain, parts ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(parts...)})
	}
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio int32) *nftables.Chain {
		p, accept := nftables.ChainPriority(prio), nftables.ChainPolicyAccept
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: &p, Policy: &accept})
	}

	pre := chain("public-pre", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, -150)
	rule(pre, inDevices, []expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1}, setMeta()})
	rule(pre, []expr.Any{iif(), &expr.Lookup{SourceRegister: 1, SetName: tenantMarks.Name, SetID: tenantMarks.ID,
		IsDestRegSet: true, DestRegister: 1}, setMeta()})
	for _, s := range pp.steer {
		steer := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(TenantBit),
				Xor: u32(NATHopMark(pp.hopIndex(s.hop)))},
			setMeta(),
		}
		head := slices.Concat([]expr.Any{iif(), lookup(steerIfs)}, ipv4, daddr(s.ip))
		for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
			rule(pre, head, l4proto(proto), transportRange(2, s.min, s.max), steer)
		}
		for _, typ := range []byte{0, 8} { // echo reply, echo request: the id is the port
			rule(pre, head, l4proto(unix.IPPROTO_ICMP), []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}},
			}, transportRange(4, s.min, s.max), steer)
		}
	}

	dnat := chain("public-dnat", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, -100)
	for _, tap := range pp.taps {
		if tap.vip.IsValid() {
			rule(dnat, inDevices, ipv4, daddr(tap.vip), markBoth(TenantMark(tap.vni)),
				imm(1, tap.addr.AsSlice()), nat(expr.NATTypeDestNAT, false))
		}
	}
	for _, lb := range pp.lbs {
		targets := &nftables.Set{Table: t, Anonymous: true, Constant: true, IsMap: true,
			KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr}
		var elems []nftables.SetElement
		for n, a := range lb.targets {
			elems = append(elems, nftables.SetElement{Key: u32(uint32(n)), Val: a.AsSlice()})
		}
		if err := c.AddSet(targets, elems); err != nil {
			errs = append(errs, fmt.Errorf("nftables load balancer %s targets: %w", lb.ip, err))
			continue
		}
		pick := []expr.Any{
			&expr.Numgen{Register: 1, Modulus: uint32(len(lb.targets)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: 1, SetName: targets.Name, SetID: targets.ID, IsDestRegSet: true, DestRegister: 1},
			nat(expr.NATTypeDestNAT, false)[0],
		}
		for _, ports := range lbPorts(lb.match) {
			rule(dnat, inDevices, ipv4, daddr(lb.ip), ports, markBoth(TenantMark(lb.vni)), pick)
		}
	}

	snat := chain("public-snat", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100)
	for _, tap := range pp.taps {
		m := TenantMark(tap.vni)
		head := slices.Concat(outDevices, ipv4, []expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(m)}}, saddr(tap.addr),
			imm(1, u32(m)), []expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}})
		switch {
		case tap.vip.IsValid():
			rule(snat, head, imm(1, tap.vip.AsSlice()), nat(expr.NATTypeSourceNAT, false))
		case tap.nat != nil:
			rule(snat, head, imm(1, tap.nat.IP.AsSlice()), imm(2, binaryutil.BigEndian.PutUint16(tap.nat.PortMin)),
				imm(3, binaryutil.BigEndian.PutUint16(tap.nat.PortMax)), nat(expr.NATTypeSourceNAT, true))
		}
	}

	out := chain("public-out", nftables.ChainTypeFilter, nftables.ChainHookPostrouting, 200)
	tenant := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(TenantBit), Xor: u32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: u32(0)},
	}
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	rule(out, outDevices, tenant, ipv4, []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: publicSources.Name, SetID: publicSources.ID, Invert: true},
	}, drop)
	rule(out, outDevices, tenant, []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}}}, drop)
	rule(out, []expr.Any{oif(), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("fvx")}}, imm(1, u32(0)), []expr.Any{setMeta()})
	return errors.Join(errs...)
}

// lbPorts returns the matches of a load balancer's ports: one per protocol (and port set),
// or a single empty match for every protocol and port.
func lbPorts(m match) [][]expr.Any {
	if len(m.ports) == 0 {
		return [][]expr.Any{nil}
	}
	var out [][]expr.Any
	for _, proto := range slices.Sorted(maps.Keys(m.ports)) {
		e := l4proto(proto)
		for _, s := range m.ports[proto] {
			out = append(out, append(slices.Clone(e), transportRange(2, s.first, s.last)...))
		}
		if m.ports[proto] == nil {
			out = append(out, e)
		}
	}
	return out
}

func iif() *expr.Meta { return &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1} }
func oif() *expr.Meta { return &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1} }

func lookup(s *nftables.Set) *expr.Lookup {
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}
}

// setMeta sets the packet mark from register 1.
func setMeta() *expr.Meta {
	return &expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1}
}

// markBoth sets the packet's and its connection's mark.
func markBoth(m uint32) []expr.Any {
	return []expr.Any{&expr.Immediate{Register: 1, Data: u32(m)}, setMeta(),
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}}
}

func imm(reg uint32, data []byte) []expr.Any {
	return []expr.Any{&expr.Immediate{Register: reg, Data: data}}
}

// nat translates to the IPv4 address in register 1, and to the ports in registers 2-3 when
// ports is set (for ICMP echo, the id).
func nat(typ expr.NATType, ports bool) []expr.Any {
	n := &expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: 1}
	if ports {
		n.RegProtoMin, n.RegProtoMax, n.Specified = 2, 3, true
	}
	return []expr.Any{n}
}

func daddr(a netip.Addr) []expr.Any { return addrIs(16, a) }
func saddr(a netip.Addr) []expr.Any { return addrIs(12, a) }

func addrIs(off uint32, a netip.Addr) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()}}
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}}
}

// transportRange matches a 16-bit field of the transport header (a port, an ICMP id) in
// min-max; big-endian bytes compare as numbers.
func transportRange(off uint32, min, max uint16) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: binaryutil.BigEndian.PutUint16(min)},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: binaryutil.BigEndian.PutUint16(max)}}
}

// u32 is a 32-bit value as nftables keeps marks and numgen results: host byte order.
func u32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }
