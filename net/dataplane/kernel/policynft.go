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

	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// addPolicies adds the interfaces' policies to the table being written (see syncNFT):
//
//	chain ingress-<if> / egress-<if> {       # one per isolated direction
//	  ct state established,related return
//	  <peer set> [meta l4proto <p> [th dport <port set>]] return   # per rule, family, protocol
//	  drop }
//	map egress  { ifname : verdict; <if> : jump egress-<if> }
//	map ingress { ifname : verdict; <if> : jump ingress-<if> }
//	chain forward { type filter hook forward priority filter - 10; policy accept;
//	  iifname vmap @egress        # what the machine sends, checked first
//	  oifname vmap @ingress }     # then what the receiving machine accepts
//
// Allowed packets return rather than accept, so that a packet between two machines of this
// host passes the sender's egress and the receiver's ingress. Interfaces of the state are
// filtered by name, present or not, so a tap is filtered the moment it appears. ARP is not IP
// and DHCP goes to the host (input), so neither is touched. A rule that fails validation is
// left out (fails closed) and named in the returned error.
func addPolicies(c *nftables.Conn, t *nftables.Table, ifaces []dataplane.Interface) error {
	var errs []error
	var egress, ingress []nftables.SetElement
	for _, i := range ifaces {
		cp, err := compilePolicy(i)
		if err != nil {
			errs = append(errs, err)
		}
		if cp == nil {
			continue
		}
		for _, dir := range []struct {
			name    string
			matches []match
			elems   *[]nftables.SetElement
			peer    peerField
		}{
			{"egress", cp.egress, &egress, dstAddr},
			{"ingress", cp.ingress, &ingress, srcAddr},
		} {
			if dir.matches == nil {
				continue // not isolated
			}
			chain := dir.name + "-" + i.Name
			if err := addPolicyChain(c, t, chain, dir.matches, dir.peer); err != nil {
				errs = append(errs, fmt.Errorf("interface %s: %s: %w", i.Name, dir.name, err))
				continue
			}
			*dir.elems = append(*dir.elems, nftables.SetElement{Key: ifname(i.Name),
				VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}})
		}
	}
	prio := nftables.ChainPriority(*nftables.ChainPriorityFilter - 10)
	accept := nftables.ChainPolicyAccept
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: &prio, Policy: &accept})
	for _, m := range []struct {
		name  string
		key   expr.MetaKey
		elems []nftables.SetElement
	}{{"egress", expr.MetaKeyIIFNAME, egress}, {"ingress", expr.MetaKeyOIFNAME, ingress}} {
		vmap := &nftables.Set{Table: t, Name: m.name, IsMap: true, KeyType: nftables.TypeIFName, DataType: nftables.TypeVerdict}
		if err := c.AddSet(vmap, m.elems); err != nil {
			errs = append(errs, fmt.Errorf("nftables map %s: %w", m.name, err))
			continue
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
			&expr.Meta{Key: m.key, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: vmap.Name, SetID: vmap.ID, IsDestRegSet: true, DestRegister: 0},
		}})
	}
	return errors.Join(errs...)
}

// peerField says where the peer's address is: the source for ingress, the destination for
// egress (offsets in the IPv4 and IPv6 headers).
type peerField struct{ v4, v6 uint32 }

var (
	srcAddr = peerField{v4: 12, v6: 8}
	dstAddr = peerField{v4: 16, v6: 24}
)

// addPolicyChain adds one direction's chain.
func addPolicyChain(c *nftables.Conn, t *nftables.Table, name string, matches []match, peer peerField) error {
	ch := c.AddChain(&nftables.Chain{Name: name, Table: t})
	ret := &expr.Verdict{Kind: expr.VerdictReturn}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		ret,
	}})
	for _, m := range matches {
		var peers [][]expr.Any
		if m.anyPeer {
			peers = [][]expr.Any{nil}
		}
		for _, f := range []struct {
			ranges []addrRange
			proto  byte
			off    uint32
			typ    nftables.SetDatatype
		}{{m.v4, unix.NFPROTO_IPV4, peer.v4, nftables.TypeIPAddr}, {m.v6, unix.NFPROTO_IPV6, peer.v6, nftables.TypeIP6Addr}} {
			if len(f.ranges) == 0 {
				continue
			}
			set, err := intervalSet(c, t, f.typ, addrElements(f.ranges))
			if err != nil {
				return err
			}
			peers = append(peers, []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.proto}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.off, Len: f.typ.Bytes},
				&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			})
		}
		ports := [][]expr.Any{nil}
		if len(m.ports) > 0 {
			ports = nil
			for _, proto := range slices.Sorted(maps.Keys(m.ports)) {
				e := []expr.Any{
					&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
				}
				if spans := m.ports[proto]; spans != nil {
					set, err := intervalSet(c, t, nftables.TypeInetService, portElements(spans))
					if err != nil {
						return err
					}
					e = append(e,
						&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
						&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID})
				}
				ports = append(ports, e)
			}
		}
		for _, p := range peers {
			for _, q := range ports {
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(append(slices.Clone(p), q...), ret)})
			}
		}
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}})
	return nil
}

// intervalSet adds an anonymous constant interval set.
func intervalSet(c *nftables.Conn, t *nftables.Table, typ nftables.SetDatatype, elems []nftables.SetElement) (*nftables.Set, error) {
	s := &nftables.Set{Table: t, Anonymous: true, Constant: true, Interval: true, KeyType: typ}
	if err := c.AddSet(s, elems); err != nil {
		return nil, fmt.Errorf("nftables %s set: %w", typ.Name, err)
	}
	return s, nil
}

// addrElements writes ranges as interval set elements: a start key, and an end key (the
// address after the range, flagged) unless the range runs to the top of the family. Like nft,
// a flagged zero opens the set when the first range does not start at zero.
func addrElements(rs []addrRange) []nftables.SetElement {
	var out []nftables.SetElement
	if !rs[0].first.IsUnspecified() {
		zero := netip.IPv4Unspecified()
		if rs[0].first.Is6() {
			zero = netip.IPv6Unspecified()
		}
		out = append(out, nftables.SetElement{Key: zero.AsSlice(), IntervalEnd: true})
	}
	for _, r := range rs {
		out = append(out, nftables.SetElement{Key: r.first.AsSlice()})
		if next := r.last.Next(); next.IsValid() {
			out = append(out, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return out
}

func portElements(ss []portSpan) []nftables.SetElement {
	var out []nftables.SetElement
	if ss[0].first != 0 {
		out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(0), IntervalEnd: true})
	}
	for _, s := range ss {
		out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(s.first)})
		if s.last < 65535 {
			out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(s.last + 1), IntervalEnd: true})
		}
	}
	return out
}
