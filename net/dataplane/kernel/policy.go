package kernel

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// protocols are the transport protocols a PortRange may name.
var protocols = map[string]byte{"TCP": unix.IPPROTO_TCP, "UDP": unix.IPPROTO_UDP, "SCTP": unix.IPPROTO_SCTP}

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ first, last netip.Addr }

// portSpan is an inclusive range of ports.
type portSpan struct{ first, last uint16 }

// match is a dataplane.Rule in the form nftables needs: the peer addresses as merged ranges
// per family (the exceptions already cut out), and the ports per protocol.
type match struct {
	// anyPeer is true when the rule names no peer; otherwise v4 and v6 hold the peers (one
	// of them, or both, may be empty: that family is not allowed).
	anyPeer bool
	v4, v6  []addrRange
	// ports maps a protocol number to its port ranges; nil ranges mean every port of the
	// protocol; an empty map means every protocol and port.
	ports map[byte][]portSpan
}

// compiledPolicy is an interface's policy ready for nftables.
type compiledPolicy struct {
	ingress, egress []match
}

// compilePolicy checks an interface's policy and converts it. A rule that is wrong is left
// out (it allows nothing: the policy fails closed) and named in the returned error.
func compilePolicy(i dataplane.Interface) (*compiledPolicy, error) {
	if i.Policy == nil {
		return nil, nil
	}
	var errs []error
	c := &compiledPolicy{}
	for _, dir := range []struct {
		name     string
		isolated bool
		rules    []dataplane.Rule
		out      *[]match
	}{
		{"ingress", i.Policy.IngressIsolated, i.Policy.Ingress, &c.ingress},
		{"egress", i.Policy.EgressIsolated, i.Policy.Egress, &c.egress},
	} {
		if !dir.isolated {
			continue
		}
		*dir.out = []match{} // non-nil: the direction is filtered, even with no rule
		for n, r := range dir.rules {
			m, err := compileRule(r)
			if err != nil {
				errs = append(errs, fmt.Errorf("interface %s: %s rule %d: %w", i.Name, dir.name, n, err))
				continue
			}
			*dir.out = append(*dir.out, m)
		}
	}
	return c, errors.Join(errs...)
}

func compileRule(r dataplane.Rule) (match, error) {
	m := match{anyPeer: len(r.Peers) == 0, ports: map[byte][]portSpan{}}
	for _, p := range r.Peers {
		ranges, err := peerRanges(p)
		if err != nil {
			return match{}, err
		}
		if p.Prefix.Addr().Is4() {
			m.v4 = append(m.v4, ranges...)
		} else {
			m.v6 = append(m.v6, ranges...)
		}
	}
	m.v4, m.v6 = mergeRanges(m.v4), mergeRanges(m.v6)
	all := map[byte]bool{}
	for _, pr := range r.Ports {
		proto, ok := protocols[pr.Protocol]
		switch {
		case !ok:
			return match{}, fmt.Errorf("port protocol %q: not TCP, UDP or SCTP", pr.Protocol)
		case pr.First == 0 && pr.Last != 0:
			return match{}, fmt.Errorf("port range %s 0-%d: a range needs a first port", pr.Protocol, pr.Last)
		case pr.Last != 0 && pr.Last < pr.First:
			return match{}, fmt.Errorf("port range %s %d-%d: last below first", pr.Protocol, pr.First, pr.Last)
		case pr.First == 0:
			all[proto] = true
		default:
			m.ports[proto] = append(m.ports[proto], portSpan{pr.First, max(pr.First, pr.Last)})
		}
	}
	for proto := range all {
		m.ports[proto] = nil
	}
	for proto, spans := range m.ports {
		m.ports[proto] = mergeSpans(spans)
	}
	return m, nil
}

// peerRanges returns the addresses of a peer's prefix less its exceptions.
func peerRanges(p dataplane.Peer) ([]addrRange, error) {
	if !p.Prefix.IsValid() {
		return nil, errors.New("peer without a valid prefix")
	}
	prefix := p.Prefix.Masked()
	out := []addrRange{{prefix.Addr(), lastAddr(prefix)}}
	for _, e := range p.Except {
		if !e.IsValid() || e.Addr().Is4() != prefix.Addr().Is4() || e.Bits() < prefix.Bits() || !prefix.Contains(e.Addr()) {
			return nil, fmt.Errorf("peer %s: except %s is not inside it", prefix, e)
		}
		out = cut(out, addrRange{e.Masked().Addr(), lastAddr(e.Masked())})
	}
	return out, nil
}

// cut removes x from sorted, disjoint ranges.
func cut(rs []addrRange, x addrRange) []addrRange {
	var out []addrRange
	for _, r := range rs {
		if x.last.Less(r.first) || r.last.Less(x.first) {
			out = append(out, r)
			continue
		}
		if r.first.Less(x.first) {
			out = append(out, addrRange{r.first, x.first.Prev()})
		}
		if x.last.Less(r.last) {
			out = append(out, addrRange{x.last.Next(), r.last})
		}
	}
	return out
}

// mergeRanges sorts ranges and joins those that overlap or touch, as nftables interval sets
// need.
func mergeRanges(rs []addrRange) []addrRange {
	slices.SortFunc(rs, func(a, b addrRange) int { return a.first.Compare(b.first) })
	var out []addrRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if next := last.last.Next(); !next.IsValid() || !next.Less(r.first) {
				if last.last.Less(r.last) {
					last.last = r.last
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

func mergeSpans(ss []portSpan) []portSpan {
	slices.SortFunc(ss, func(a, b portSpan) int { return cmp.Compare(a.first, b.first) })
	var out []portSpan
	for _, s := range ss {
		if n := len(out); n > 0 && int(out[n-1].last)+1 >= int(s.first) {
			out[n-1].last = max(out[n-1].last, s.last)
			continue
		}
		out = append(out, s)
	}
	return out
}

// lastAddr returns the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
