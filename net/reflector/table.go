package reflector

import (
	"context"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"

	"github.com/ferrite-dev/ferrite/net/route"
)

// Entry is one route in the reflector's table, as served over HTTP.
type Entry struct {
	Route route.Route `json:"route"`
	// Originator is the agent that announced the route (from the route distinguisher).
	Originator netip.Addr `json:"originator,omitzero"`
	// RouterMAC is the EVPN Router's MAC the route carries (empty when it has none).
	RouterMAC string `json:"routerMAC,omitempty"`
	// Neighbor is the session the route was learned on.
	Neighbor string `json:"neighbor"`
	// Raw is GoBGP's rendering of the route key, kept for routes that do not decode.
	Raw string `json:"raw,omitempty"`
	// Error says why a route from a foreign speaker could not be read as a Ferrite route.
	Error string `json:"error,omitempty"`
}

// Peer is one BGP session of the reflector.
type Peer struct {
	Address  string `json:"address"`
	RouterID string `json:"routerID"`
	State    string `json:"state"`
	// Received counts the paths (routes and memberships) received from the peer.
	Received uint64 `json:"received"`
}

// Routes lists every route in the table, one entry per path (a route reflected from two
// clients, or a prefix with several next hops, shows up once per path).
func (r *Reflector) Routes(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := r.bgp.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: route.Family},
		func(d *api.Destination) {
			for _, p := range d.Paths {
				e := Entry{Neighbor: p.NeighborIp}
				rt, orig, err := route.FromAPI(p)
				if err != nil {
					e.Raw, e.Error = d.Prefix, err.Error()
				}
				e.Route, e.Originator = rt, orig
				if attrs, err := apiutil.GetNativePathAttributes(p); err == nil {
					if mac, ok := route.RouterMACOf(attrs); ok {
						e.RouterMAC = mac.String()
					}
				}
				out = append(out, e)
			}
		})
	return out, err
}

// Subscriptions counts, per route target, the peers subscribed to it (the reflector's own
// default membership is not counted).
func (r *Reflector) Subscriptions(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := r.bgp.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: route.SubscriptionFamily},
		func(d *api.Destination) {
			for _, p := range d.Paths {
				if p.NeighborIp != "" && p.NeighborIp != "<nil>" {
					out[d.Prefix]++
				}
			}
		})
	return out, err
}

// Peers lists the sessions of the reflector.
func (r *Reflector) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	err := r.bgp.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: false}, func(p *api.Peer) {
		out = append(out, peerOf(p))
	})
	return out, err
}

func peerOf(p *api.Peer) Peer {
	out := Peer{Address: p.GetConf().GetNeighborAddress()}
	if s := p.GetState(); s != nil {
		if s.NeighborAddress != "" {
			out.Address = s.NeighborAddress
		}
		out.RouterID = s.RouterId
		out.State = s.SessionState.String()
	}
	for _, a := range p.AfiSafis {
		out.Received += a.GetState().GetReceived()
	}
	return out
}

// Size returns the number of paths in the route table, cheaply (no decoding).
func (r *Reflector) Size(ctx context.Context) (uint64, error) {
	t, err := r.bgp.GetTable(ctx, &api.GetTableRequest{TableType: api.TableType_GLOBAL, Family: route.Family})
	if err != nil {
		return 0, err
	}
	return t.NumPath, nil
}
