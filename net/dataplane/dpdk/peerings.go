package dpdk

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
	"github.com/ferrite-dev/ferrite/net/route"
)

// peeredRoutes returns, for each VNI A of s.Peerings and each VNI B it peers with, B's remote
// standard and load-balancer routes as routes of A whose traffic carries VNI B
// (next_hop_vni), so the remote host delivers it in B. A's own prefixes (its interfaces'
// addresses and its routes) win; between peered VNIs the lowest wins. NAT routes are not
// imported: a peering reaches a network's addresses, not its way out. Addresses of local
// interfaces in B are not imported (the wire contract has no local next hop in another VNI).
func peeredRoutes(s dataplane.State) ([]*pb.Route, []error) {
	type key struct {
		vni    uint32
		prefix netip.Prefix
	}
	own := map[key]bool{}
	for _, i := range s.Interfaces {
		for _, a := range i.Addresses {
			own[key{i.VNI, a}] = true
		}
	}
	byVNI := map[uint32][]route.Route{}
	for _, r := range s.Routes {
		if r.Validate() != nil {
			continue // named by desired already
		}
		own[key{r.VNI, r.Prefix}] = true
		if r.Kind != route.KindNAT {
			byVNI[r.VNI] = append(byVNI[r.VNI], r)
		}
	}
	var out []*pb.Route
	var errs []error
	for _, vni := range slices.Sorted(maps.Keys(s.Peerings)) {
		claimed := map[netip.Prefix]uint32{} // prefix → the peered VNI it is imported from
		for _, peer := range slices.Compact(slices.Sorted(slices.Values(s.Peerings[vni]))) {
			if vni == 0 || vni > route.MaxVNI || peer == 0 || peer > route.MaxVNI || peer == vni {
				errs = append(errs, fmt.Errorf("peering of vni %d with vni %d: invalid", vni, peer))
				continue
			}
			for _, r := range byVNI[peer] {
				if from, ok := claimed[r.Prefix]; own[key{vni, r.Prefix}] || ok && from != peer {
					continue
				}
				claimed[r.Prefix] = peer
				pr := RouteToProto(r)
				pr.Vni, pr.NextHopVni = vni, peer
				out = append(out, pr)
			}
		}
	}
	return out, errs
}
