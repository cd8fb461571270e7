// Package reflector runs Ferrite's BGP route reflector: a GoBGP server in process that accepts
// netagents as route-reflector clients from configured prefixes (dynamic neighbors), reflects
// EVPN type-5 routes between them under route-target constraint, and reports its table.
package reflector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/ferrite-dev/ferrite/net/bgplog"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Config says where a reflector listens and whom it accepts.
type Config struct {
	// RouterID identifies the reflector (an IPv4 address); it is also its cluster ID.
	RouterID netip.Addr
	// ListenAddresses are the addresses the BGP listener binds (all when empty).
	ListenAddresses []netip.Addr
	// Port is the BGP port; 179 when zero.
	Port int
	// ClientPrefixes are the prefixes agents connect from; every speaker from one of them is
	// accepted as a route-reflector client.
	ClientPrefixes []netip.Prefix
	// ASN is the shared iBGP AS; route.ASN when zero.
	ASN uint32
	// Logger receives the reflector's and GoBGP's messages; slog.Default when nil.
	Logger *slog.Logger
}

const clientGroup = "agents"

// Reflector is a running route reflector.
type Reflector struct {
	cfg Config
	bgp *server.BgpServer
	log *slog.Logger
}

// Start starts a reflector; Stop releases it.
func Start(ctx context.Context, cfg Config) (*Reflector, error) {
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("router ID %v: want an IPv4 address", cfg.RouterID)
	}
	if len(cfg.ClientPrefixes) == 0 {
		return nil, errors.New("no client prefixes: the reflector would accept nobody")
	}
	if cfg.ASN == 0 {
		cfg.ASN = route.ASN
	}
	if cfg.Port == 0 {
		cfg.Port = 179
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := server.NewBgpServer(server.LoggerOption(bgplog.New(cfg.Logger)))
	go s.Serve()
	r := &Reflector{cfg: cfg, bgp: s, log: cfg.Logger}
	if err := r.configure(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return r, nil
}

func (r *Reflector) configure(ctx context.Context) error {
	listen := make([]string, 0, len(r.cfg.ListenAddresses))
	for _, a := range r.cfg.ListenAddresses {
		listen = append(listen, a.String())
	}
	err := r.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             r.cfg.ASN,
		RouterId:        r.cfg.RouterID.String(),
		ListenPort:      int32(r.cfg.Port),
		ListenAddresses: listen,
	}})
	if err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	err = r.bgp.AddPeerGroup(ctx, &api.AddPeerGroupRequest{PeerGroup: &api.PeerGroup{
		Conf: &api.PeerGroupConf{PeerGroupName: clientGroup, PeerAsn: r.cfg.ASN},
		RouteReflector: &api.RouteReflector{
			RouteReflectorClient:    true,
			RouteReflectorClusterId: r.cfg.RouterID.String(),
		},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: route.Family, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: route.SubscriptionFamily, Enabled: true}},
		},
		// Passive: clients come to us; the reflector never dials an agent.
		Transport: &api.Transport{PassiveMode: true},
	}})
	if err != nil {
		return fmt.Errorf("add peer group: %w", err)
	}
	for _, p := range r.cfg.ClientPrefixes {
		err := r.bgp.AddDynamicNeighbor(ctx, &api.AddDynamicNeighborRequest{DynamicNeighbor: &api.DynamicNeighbor{
			Prefix: p.String(), PeerGroup: clientGroup,
		}})
		if err != nil {
			return fmt.Errorf("add dynamic neighbors %s: %w", p, err)
		}
	}
	// The default route-target membership asks every client for all its routes: the reflector
	// must hold every route to serve any subscription, and its table is the network's view.
	all, err := route.Membership(0, r.cfg.RouterID)
	if err != nil {
		return err
	}
	if _, err := r.bgp.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: all}); err != nil {
		return fmt.Errorf("announce default membership: %w", err)
	}
	r.log.Info("route reflector started", "routerID", r.cfg.RouterID, "port", r.cfg.Port, "clients", r.cfg.ClientPrefixes)
	return nil
}

// Stop closes every session and the listener. Clients see the sessions drop at once.
func (r *Reflector) Stop() {
	if err := r.bgp.StopBgp(context.Background(), &api.StopBgpRequest{}); err != nil {
		r.log.Warn("stop bgp", "err", err)
	}
	r.bgp.Stop()
}

// Server exposes the GoBGP server, for tests and tools that need more than the Reflector's API.
func (r *Reflector) Server() *server.BgpServer { return r.bgp }
