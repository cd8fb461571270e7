// Package reflector runs Ferrite's BGP route reflector: a GoBGP server in process that accepts
// netagents as route-reflector clients from configured prefixes (dynamic neighbors), checks
// what they announce, reflects EVPN type-5 routes between them and to the other reflectors
// under route-target constraint, with graceful restart, and reports its table.
package reflector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

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
	// accepted as a route-reflector client, subject to the import guard (see guard.go).
	ClientPrefixes []netip.Prefix
	// Peers are the other reflectors. Reflectors are a full iBGP mesh of non-clients: each
	// reflects its clients' routes to the others and theirs to its clients, never a peer's
	// route to another peer, so nothing loops (and cluster lists and originator IDs would
	// catch it). Every reflector must list every other one.
	Peers []netip.AddrPort
	// Password is the TCP-MD5 password (RFC 2385) of every session, clients and peers; none
	// when empty.
	Password string
	// MaxPrefixes is the most EVPN routes one client may announce before its session is shut
	// down; 100,000 when zero.
	MaxPrefixes uint32
	// RestartTime is the graceful-restart time the reflector announces and grants; 120 s when
	// zero.
	RestartTime time.Duration
	// SyncTimeout bounds how long a starting reflector waits for its peers' End-of-RIB before
	// it accepts clients; 30 s when zero (GoBGP idles 5 s after a session drops, so a peer
	// takes over 5 s to reconnect to a restarted reflector).
	SyncTimeout time.Duration
	// ASN is the shared iBGP AS; route.ASN when zero.
	ASN uint32
	// Logger receives the reflector's and GoBGP's messages; slog.Default when nil.
	Logger *slog.Logger
}

const (
	clientGroup = "agents"
	peerGroup   = "reflectors"
)

// Reflector is a running route reflector.
type Reflector struct {
	cfg   Config
	bgp   *server.BgpServer
	log   *slog.Logger
	guard *guard
}

// Start starts a reflector; Stop releases it. With Peers it first takes the routes its peers
// hold (until their End-of-RIB or SyncTimeout) and only then accepts clients, so that a
// restarted reflector never hands a client an incomplete table followed by End-of-RIB, which
// would make the client drop the routes it kept through the restart.
func Start(ctx context.Context, cfg Config) (*Reflector, error) {
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("router ID %v: want an IPv4 address", cfg.RouterID)
	}
	if len(cfg.ClientPrefixes) == 0 {
		return nil, errors.New("no client prefixes: the reflector would accept nobody")
	}
	if cfg.Password != "" {
		if err := MD5Supported(); err != nil {
			return nil, err
		}
	}
	if cfg.ASN == 0 {
		cfg.ASN = route.ASN
	}
	if cfg.Port == 0 {
		cfg.Port = 179
	}
	if cfg.MaxPrefixes == 0 {
		cfg.MaxPrefixes = 100_000
	}
	if cfg.RestartTime == 0 {
		cfg.RestartTime = 120 * time.Second
	}
	if cfg.SyncTimeout == 0 {
		cfg.SyncTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := server.NewBgpServer(server.LoggerOption(bgplog.New(cfg.Logger)))
	go s.Serve()
	r := &Reflector{cfg: cfg, bgp: s, log: cfg.Logger}
	if err := r.configure(ctx); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// GracefulRestart is the graceful-restart configuration of the reflector's sessions (RFC 4724
// with RFC 8538's notification bit, and long-lived graceful restart, RFC 9494): End-of-RIB per
// family, routes of a restarting peer kept stale for the restart time. Long-lived GR matters
// with GoBGP: without it GoBGP drops a restarting peer's stale routes as soon as one attempt
// to reconnect fails, which is what happens while a reflector comes back. Agents use the same
// (with AfiSafis).
func GracefulRestart(restart time.Duration, localRestarting bool) *api.GracefulRestart {
	return &api.GracefulRestart{
		Enabled:             true,
		RestartTime:         uint32(restart / time.Second),
		NotificationEnabled: true,
		LonglivedEnabled:    true,
		DeferralTime:        uint32(restart / time.Second),
		LocalRestarting:     localRestarting,
	}
}

// AfiSafis are the families of every session, with graceful restart (End-of-RIB) on each and
// the EVPN prefix limit when maxPrefixes is not zero.
func AfiSafis(maxPrefixes uint32) []*api.AfiSafi {
	evpn := &api.AfiSafi{
		Config:                   &api.AfiSafiConfig{Family: route.Family, Enabled: true},
		MpGracefulRestart:        &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		LongLivedGracefulRestart: longLived,
	}
	if maxPrefixes != 0 {
		evpn.PrefixLimits = &api.PrefixLimit{Family: route.Family, MaxPrefixes: maxPrefixes}
	}
	return []*api.AfiSafi{evpn, {
		Config:                   &api.AfiSafiConfig{Family: route.SubscriptionFamily, Enabled: true},
		MpGracefulRestart:        &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		LongLivedGracefulRestart: longLived,
	}}
}

// LongLivedStaleTime is how long routes of a peer that went away are kept (long-lived stale).
const LongLivedStaleTime = 120 * time.Second

var longLived = &api.LongLivedGracefulRestart{Config: &api.LongLivedGracefulRestartConfig{
	Enabled: true, RestartTime: uint32(LongLivedStaleTime / time.Second),
}}

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
	g, err := startGuard(ctx, r)
	if err != nil {
		return err
	}
	r.guard = g
	if err := r.addPeers(ctx); err != nil {
		return err
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
	r.waitPeersSynced(ctx)
	if err := r.acceptClients(ctx); err != nil {
		return err
	}
	r.log.Info("route reflector started", "routerID", r.cfg.RouterID, "port", r.cfg.Port,
		"clients", r.cfg.ClientPrefixes, "peers", r.cfg.Peers, "md5", r.cfg.Password != "")
	return nil
}

// acceptClients makes every speaker from the client prefixes a passive route-reflector client.
func (r *Reflector) acceptClients(ctx context.Context) error {
	err := r.bgp.AddPeerGroup(ctx, &api.AddPeerGroupRequest{PeerGroup: &api.PeerGroup{
		Conf: &api.PeerGroupConf{PeerGroupName: clientGroup, PeerAsn: r.cfg.ASN, AuthPassword: r.cfg.Password},
		RouteReflector: &api.RouteReflector{
			RouteReflectorClient:    true,
			RouteReflectorClusterId: r.cfg.RouterID.String(),
		},
		// Helper mode: a client that restarts keeps its routes here, stale, until its
		// End-of-RIB or the restart time. (GoBGP cannot put dynamic neighbours in restarting
		// mode; Start's peer sync stands in for it.)
		GracefulRestart: GracefulRestart(r.cfg.RestartTime, false),
		AfiSafis:        AfiSafis(r.cfg.MaxPrefixes),
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
	return nil
}

// Stop closes every session with a Cease and the listener: clients drop the reflector's routes
// at once (decommissioning). A reflector that restarts should rather exit without Stop: its
// sessions then end without a notification and clients keep its routes through the restart.
func (r *Reflector) Stop() {
	if r.guard != nil {
		r.guard.stop()
	}
	if err := r.bgp.StopBgp(context.Background(), &api.StopBgpRequest{}); err != nil {
		r.log.Warn("stop bgp", "err", err)
	}
	r.bgp.Stop()
}

// Server exposes the GoBGP server, for tests and tools that need more than the Reflector's API.
func (r *Reflector) Server() *server.BgpServer { return r.bgp }
