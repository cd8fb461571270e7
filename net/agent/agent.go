// Package agent is netagent's core: a GoBGP speaker on a hypervisor that announces the routes
// of the local network interfaces to the route reflectors, subscribes to their VNIs with
// route-target constraint, and installs the routes it learns through a dataplane.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/ferrite-dev/ferrite/net/bgplog"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Config describes one agent.
type Config struct {
	// RouterID identifies the agent (an IPv4 address); it names the agent in the route
	// distinguisher of every route it originates.
	RouterID netip.Addr
	// LocalAddress is the source address of the BGP sessions (the hypervisor's underlay address).
	LocalAddress netip.Addr
	// NextHop is the underlay address announced for local interfaces; LocalAddress when unset.
	NextHop netip.Addr
	// Reflectors are the route reflectors to peer with (address and BGP port).
	Reflectors []netip.AddrPort
	// ASN is the shared iBGP AS; route.ASN when zero.
	ASN uint32
	// HoldTime is the BGP hold time in seconds (30 when zero): how long a silent reflector is
	// trusted. A reflector that closes its sessions or whose process dies is noticed at once
	// regardless; too short a hold time drops sessions on a busy host (and with them routes
	// that must then be sent again).
	HoldTime uint64
	// Dataplane receives interfaces and learned routes.
	Dataplane dataplane.Dataplane
	// Logger receives the agent's and GoBGP's messages; slog.Default when nil.
	Logger *slog.Logger
}

// Agent is a running netagent.
type Agent struct {
	cfg Config
	bgp *server.BgpServer
	log *slog.Logger
	ctx context.Context // lives as long as the agent; dataplane calls from BGP events use it
	end context.CancelFunc

	mu         sync.Mutex
	interfaces map[string]dataplane.Interface
	explicit   map[route.Route]bool // routes announced through Announce
	announced  map[route.Route]int  // what is in BGP, counted over interfaces and Announce
	subscribed map[uint32]bool      // explicit subscriptions
	members    map[uint32]bool      // memberships in BGP
	learned    map[string]route.Route
	installed  map[route.Route]int // learned routes by value, counted over originators
	stats      Stats
}

// Stats counts what the agent saw, for metrics and tests.
type Stats struct {
	// Echoes counts routes of this agent that came back from a reflector (must stay zero).
	Echoes uint64 `json:"echoes"`
	// Undecodable counts learned paths that are not Ferrite routes.
	Undecodable uint64 `json:"undecodable"`
	// DataplaneErrors counts failed dataplane calls.
	DataplaneErrors uint64 `json:"dataplaneErrors"`
}

// Start starts the agent and its sessions to the reflectors; Stop ends it.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("router ID %v: want an IPv4 address", cfg.RouterID)
	}
	if !cfg.LocalAddress.IsValid() {
		return nil, errors.New("no local address")
	}
	if !cfg.NextHop.IsValid() {
		cfg.NextHop = cfg.LocalAddress
	}
	if cfg.Dataplane == nil {
		return nil, errors.New("no dataplane")
	}
	if cfg.ASN == 0 {
		cfg.ASN = route.ASN
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	life, end := context.WithCancel(context.Background())
	a := &Agent{
		cfg: cfg, log: cfg.Logger, ctx: life, end: end,
		bgp:        server.NewBgpServer(server.LoggerOption(bgplog.New(cfg.Logger))),
		interfaces: map[string]dataplane.Interface{},
		explicit:   map[route.Route]bool{},
		announced:  map[route.Route]int{},
		subscribed: map[uint32]bool{},
		members:    map[uint32]bool{},
		learned:    map[string]route.Route{},
		installed:  map[route.Route]int{},
	}
	go a.bgp.Serve()
	if err := a.configure(ctx); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

func (a *Agent) configure(ctx context.Context) error {
	err := a.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        a.cfg.ASN,
		RouterId:   a.cfg.RouterID.String(),
		ListenPort: -1, // agents dial the reflectors and accept nobody
	}})
	if err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	err = a.bgp.WatchEvent(a.ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true}},
	}}, func(ev *api.WatchEventResponse) {
		if t := ev.GetTable(); t != nil {
			a.onPaths(t.Paths)
		}
	})
	if err != nil {
		return fmt.Errorf("watch best paths: %w", err)
	}
	for _, rr := range a.cfg.Reflectors {
		if err := a.bgp.AddPeer(ctx, &api.AddPeerRequest{Peer: a.peer(rr)}); err != nil {
			return fmt.Errorf("peer with reflector %s: %w", rr, err)
		}
	}
	return nil
}

func (a *Agent) peer(rr netip.AddrPort) *api.Peer {
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: rr.Addr().String(), PeerAsn: a.cfg.ASN},
		Transport: &api.Transport{
			LocalAddress: a.cfg.LocalAddress.String(),
			RemotePort:   uint32(rr.Port()),
		},
		// Short timers: a reflector that comes back is used again within seconds.
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           1,
			IdleHoldTimeAfterReset: 1,
			HoldTime:               a.cfg.HoldTime,
			KeepaliveInterval:      max(1, a.cfg.HoldTime/3),
		}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: route.Family, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: route.SubscriptionFamily, Enabled: true}},
		},
	}
}

// Stop closes the sessions (the reflectors withdraw the agent's routes) and the BGP server.
// Routes installed in the dataplane stay: traffic keeps flowing while an agent restarts.
func (a *Agent) Stop() {
	a.end()
	if err := a.bgp.StopBgp(context.Background(), &api.StopBgpRequest{}); err != nil {
		a.log.Warn("stop bgp", "err", err)
	}
	a.bgp.Stop()
}

// Server exposes the GoBGP server, for tests and tools that need more than the Agent's API.
func (a *Agent) Server() *server.BgpServer { return a.bgp }

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Established counts the reflectors the agent has a working session with.
func (a *Agent) Established(ctx context.Context) int {
	n := 0
	_ = a.bgp.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			n++
		}
	})
	return n
}
