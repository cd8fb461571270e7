package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

// NFTable is the nftables table (family inet) Ferrite owns.
const NFTable = "ferrite"

// devicePrefixes are the name prefixes of devices whose input is always dropped: Ferrite's
// taps and VXLAN devices.
var devicePrefixes = []string{tapdevice.Prefix, "fvx"}

// syncNFT rewrites the `inet ferrite` table in one atomic transaction (create, delete, create
// again, so whatever was in it before is gone):
//
//	set vteps { type ipv4_addr; elements = VTEPs }
//	set interfaces { type ifname; elements = the state's interfaces }
//	chain input { type filter hook input priority filter - 10; policy accept;
//	  iifname "fr*" drop; iifname "fvx*" drop; iifname @interfaces drop
//	  meta nfproto ipv4 udp dport <port> ip saddr @vteps accept
//	  udp dport <port> drop }
//
// DHCP and router advertisements for machines are served on packet sockets, which see frames
// before this hook, and ARP is not IP.
//
// The guests' interfaces get a source check at prerouting (see addAntiSpoof), the
// interfaces' policies a forward chain (see addPolicies), and public services their sets and
// chains (see addPublic). An invalid policy rule is left out and named in the
// returned error; the rest of the table is still written.
func (d *Dataplane) syncNFT(vteps []netip.Addr, interfaces []dataplane.Interface, pub *publicPlan) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: NFTable}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)

	vtepSet := &nftables.Set{Table: t, Name: "vteps", KeyType: nftables.TypeIPAddr}
	var elems []nftables.SetElement
	for _, a := range vteps {
		elems = append(elems, nftables.SetElement{Key: a.AsSlice()})
	}
	if err := c.AddSet(vtepSet, elems); err != nil {
		return fmt.Errorf("nftables set vteps: %w", err)
	}
	ifSet := &nftables.Set{Table: t, Name: "interfaces", KeyType: nftables.TypeIFName}
	elems = nil
	for _, i := range interfaces {
		elems = append(elems, nftables.SetElement{Key: ifname(i.Name)})
	}
	if err := c.AddSet(ifSet, elems); err != nil {
		return fmt.Errorf("nftables set interfaces: %w", err)
	}

	prio := nftables.ChainPriority(*nftables.ChainPriorityFilter - 10)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: &prio, Policy: &accept})
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	iifname := &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}
	for _, p := range devicePrefixes {
		// A compare shorter than the name register matches a prefix, like nft's "fr*".
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			iifname, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(p)}, drop}})
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		iifname, &expr.Lookup{SourceRegister: 1, SetName: ifSet.Name, SetID: ifSet.ID}, drop}})
	vxlan := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(d.cfg.Port))},
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append([]expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}, append(slices.Clone(vxlan),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: vtepSet.Name, SetID: vtepSet.ID},
		&expr.Verdict{Kind: expr.VerdictAccept})...)})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(vxlan, drop)})
	policyErr := errors.Join(addAntiSpoof(c, t, interfaces, ifSet, pub.vni),
		addPolicies(c, t, interfaces), addPublic(c, t, pub))
	if err := c.Flush(); err != nil {
		return errors.Join(policyErr, fmt.Errorf("nftables table inet %s: %w", NFTable, err))
	}
	return policyErr
}

// ifname pads an interface name to the kernel's IFNAMSIZ, as nftables compares names.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
