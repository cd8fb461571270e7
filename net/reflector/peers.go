package reflector

import (
	"context"
	"fmt"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/ferrite-dev/ferrite/net/route"
)

// addPeers configures the other reflectors as route-reflector clients of this one (see
// Config.Peers), in the route family only. Clients, not plain iBGP non-clients: GoBGP v3.37 sends
// a non-client no withdrawal when the new best path came from that very peer and the old one
// from a client, so a route an agent withdrew stayed at the other reflector, each keeping the
// copy the other had sent. Each reflector's own cluster ID and the cluster list stop loops. The
// sessions
// start in GoBGP's restarting mode: the reflector takes its peers' routes and End-of-RIB before
// it sends its own, and a peer keeps this reflector's routes through its restart.
func (r *Reflector) addPeers(ctx context.Context) error {
	local := ""
	if len(r.cfg.ListenAddresses) > 0 {
		local = r.cfg.ListenAddresses[0].String()
	}
	for _, p := range r.cfg.Peers {
		err := r.bgp.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf: &api.PeerConf{
				NeighborAddress: p.Addr().String(),
				PeerAsn:         r.cfg.ASN,
				PeerGroup:       "",
				AuthPassword:    r.cfg.Password,
				Description:     peerGroup,
			},
			RouteReflector: &api.RouteReflector{RouteReflectorClient: true, RouteReflectorClusterId: r.cfg.RouterID.String()},
			// Only the reflector with the lower router ID dials: when both do, GoBGP's 5 s idle
			// after each refused attempt can keep the two sides out of step for good.
			Transport:       &api.Transport{LocalAddress: local, RemotePort: uint32(p.Port()), PassiveMode: r.cfg.RouterID.Compare(p.Addr()) > 0},
			Timers:          &api.Timers{Config: &api.TimersConfig{ConnectRetry: 2, IdleHoldTimeAfterReset: 1}},
			GracefulRestart: GracefulRestart(r.cfg.RestartTime, true),
			// Routes only, no route-target constraint: a reflector wants every route, and with
			// RTC a peer's End-of-RIB would come before the routes our membership asks for.
			AfiSafis: AfiSafis(0)[:1],
		}})
		if err != nil {
			return fmt.Errorf("add peer reflector %s: %w", p, err)
		}
	}
	return nil
}

// waitPeersSynced waits until every peer reflector has sent End-of-RIB for the route family,
// or SyncTimeout passes (a peer that is down must not keep clients out for long).
func (r *Reflector) waitPeersSynced(ctx context.Context) {
	if len(r.cfg.Peers) == 0 {
		return
	}
	deadline := time.Now().Add(r.cfg.SyncTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		synced := 0
		_ = r.bgp.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetConf().GetPeerGroup() == clientGroup {
				return
			}
			for _, a := range p.AfiSafis {
				f := a.GetConfig().GetFamily()
				if f.GetAfi() == route.Family.Afi && f.GetSafi() == route.Family.Safi &&
					a.GetMpGracefulRestart().GetState().GetEndOfRibReceived() {
					synced++
				}
			}
		})
		if synced >= len(r.cfg.Peers) {
			r.log.Info("synced with peer reflectors", "peers", len(r.cfg.Peers))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var states []string
	_ = r.bgp.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		states = append(states, p.GetConf().GetNeighborAddress()+" "+p.GetState().GetSessionState().String())
	})
	r.log.Warn("peer reflectors not synced, accepting clients anyway", "after", r.cfg.SyncTimeout, "peers", states)
}

// isPeer reports whether addr is one of the other reflectors.
func (r *Reflector) isPeer(addr string) bool {
	for _, p := range r.cfg.Peers {
		if p.Addr().String() == addr {
			return true
		}
	}
	return false
}
