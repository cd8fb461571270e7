// Package agent is netagent's core: a GoBGP speaker on a hypervisor that keeps BGP and the
// dataplane in line with a desired state. The caller sets the local part of that state
// (interfaces, extra routes, subscriptions, peerings) with SetLocal; the agent announces the
// routes of the local interfaces whose devices exist, subscribes to their VNIs and the peered
// VNIs with route-target constraint, and hands the dataplane the local interfaces and peerings
// plus every route learned from the reflectors. Interfaces with public services (VirtualIP, NAT
// share, load-balancer target) have their public addresses announced in the public VNI.
// One reconcile loop does all of it, retries what failed and re-applies periodically.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/ferrite-dev/ferrite/net/bgplog"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// Config describes one agent.
type Config struct {
	// RouterID identifies the agent (an IPv4 address); it names the agent in the route
	// distinguisher of every route it originates. A restarted agent must keep it.
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
	// trusted. It also bounds how long a starting agent waits for the reflectors' End-of-RIB
	// before its first dataplane Apply.
	HoldTime uint64
	// Password is the TCP-MD5 (RFC 2385) password of the sessions to the reflectors; empty
	// means none. The reflectors must use the same one.
	Password string
	// GracefulRestart configures BGP graceful restart (RFC 4724) with the reflectors.
	GracefulRestart GracefulRestart
	// PublicVNI is the virtual network of public addresses, the same on every hypervisor and
	// edge; zero when this host serves none. The agent announces its interfaces' VirtualIPs,
	// NAT port ranges and load-balancer addresses in it, subscribes to it while any local
	// interface has such a public service, and hands it to the dataplane.
	PublicVNI uint32
	// Dataplane receives the desired state.
	Dataplane dataplane.Dataplane
	// Logger receives the agent's and GoBGP's messages; slog.Default when nil.
	Logger *slog.Logger
}

// GracefulRestart configures graceful restart. It is on unless Disabled: the agent is both a
// helper (it keeps a restarting reflector's routes, marked stale, until the reflector sends
// End-of-RIB or RestartTime passes) and a restarting speaker (Stop leaves the dataplane alone
// and ends the sessions so that the reflectors keep its routes; a new agent with the same
// RouterID announces them again and waits for End-of-RIB before its first Apply).
type GracefulRestart struct {
	// Disabled turns graceful restart off: Stop then ends the sessions with a Cease and the
	// reflectors withdraw the agent's routes at once.
	Disabled bool
	// RestartTime is how long, in seconds, a peer keeps the routes of a restarting speaker;
	// 120 when zero (at most 4095, the field's width).
	RestartTime uint32
	// EndOfRIBWait bounds how long a starting agent waits for a reflector's End-of-RIB before
	// its first Apply (reflectors without graceful restart send none); the hold time when zero.
	EndOfRIBWait time.Duration
}

// Timing of the reconcile loop.
const (
	// debounce is how long the loop waits for more changes before acting on one.
	debounce = 50 * time.Millisecond
	// maxDelay bounds how long a steady stream of changes postpones a pass.
	maxDelay = time.Second
	// missingPoll is how often the dataplane is re-applied while an interface's device is
	// missing, to notice when it appears.
	missingPoll = 2 * time.Second
	// resync is how often the dataplane is re-applied when nothing changed, to repair drift.
	resync = 30 * time.Second
	// minBackoff and maxBackoff bound the retry delay after a failed pass.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
	// stopWait bounds how long Stop waits for the graceful end of the sessions.
	stopWait = 3 * time.Second
)

// Agent is a running netagent.
type Agent struct {
	cfg  Config
	bgp  *server.BgpServer
	log  *slog.Logger
	ctx  context.Context // lives as long as the agent
	end  context.CancelFunc
	kick chan struct{} // wakes the reconcile loop; capacity 1, so changes coalesce
	done chan struct{} // closed when the reconcile loop has returned

	mu       sync.Mutex
	local    Local                // desired local state (validated)
	set      bool                 // SetLocal was called at least once
	localGen uint64               // bumped by every SetLocal
	rib      rib                  // routes learned from the reflectors
	dp       dataplaneState       // what the last Apply said
	bgpIn    map[route.Route]bool // announcements in GoBGP's table
	rtIn     map[uint32]bool      // memberships in GoBGP's table
	sync     syncState
	stats    Stats
}

// Stats counts what the agent saw, for metrics and tests.
type Stats struct {
	// Undecodable counts learned paths that are not Ferrite routes (ignored).
	Undecodable uint64 `json:"undecodable"`
	// Applies counts dataplane Apply calls; DataplaneErrors those that failed.
	Applies         uint64 `json:"applies"`
	DataplaneErrors uint64 `json:"dataplaneErrors"`
	// BGPErrors counts failed announcements, withdrawals and membership changes (retried).
	BGPErrors uint64 `json:"bgpErrors"`
	// Installed is the number of learned routes in the last successful Apply.
	Installed int `json:"installed"`
}

// Start starts the agent. It opens its sessions to the reflectors once SetLocal has been called
// for the first time, so that a restarted agent announces its routes in its first update.
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
	if cfg.PublicVNI > route.MaxVNI {
		return nil, fmt.Errorf("public vni %d out of range 1..%d", cfg.PublicVNI, route.MaxVNI)
	}
	if cfg.ASN == 0 {
		cfg.ASN = route.ASN
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = 30
	}
	if cfg.GracefulRestart.RestartTime == 0 {
		cfg.GracefulRestart.RestartTime = 120
	}
	if cfg.GracefulRestart.RestartTime > 4095 {
		return nil, fmt.Errorf("graceful restart time %d s: at most 4095", cfg.GracefulRestart.RestartTime)
	}
	if cfg.GracefulRestart.EndOfRIBWait <= 0 {
		cfg.GracefulRestart.EndOfRIBWait = time.Duration(cfg.HoldTime) * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	life, end := context.WithCancel(context.Background())
	a := &Agent{
		cfg: cfg, log: cfg.Logger, ctx: life, end: end,
		bgp:   server.NewBgpServer(server.LoggerOption(bgplog.New(cfg.Logger))),
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		rib:   newRIB(),
		bgpIn: map[route.Route]bool{},
		rtIn:  map[uint32]bool{},
	}
	go a.bgp.Serve()
	if err := a.startBGP(ctx); err != nil {
		end()
		close(a.done)
		a.bgp.Stop()
		return nil, err
	}
	go a.run()
	return a, nil
}

func (a *Agent) startBGP(ctx context.Context) error {
	err := a.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        a.cfg.ASN,
		RouterId:   a.cfg.RouterID.String(),
		ListenPort: -1, // agents dial the reflectors and accept nobody
	}})
	if err != nil {
		return fmt.Errorf("start bgp: %w", err)
	}
	// One watch for best paths and End-of-RIB markers, in the order GoBGP saw them. The
	// callback only updates maps under a short lock and wakes the loop, so GoBGP's queue
	// towards it drains as fast as it fills.
	err = a.bgp.WatchEvent(a.ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
			{Type: api.WatchEventRequest_Table_Filter_EOR},
		},
	}}, func(ev *api.WatchEventResponse) {
		if t := ev.GetTable(); t != nil {
			a.onPaths(t.Paths)
		}
	})
	if err != nil {
		return fmt.Errorf("watch best paths: %w", err)
	}
	return nil
}

func (a *Agent) peer(rr netip.AddrPort) *api.Peer {
	gr := !a.cfg.GracefulRestart.Disabled
	family := func(f *api.Family) *api.AfiSafi {
		return &api.AfiSafi{
			Config:            &api.AfiSafiConfig{Family: f, Enabled: true},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: gr}},
		}
	}
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: rr.Addr().String(), PeerAsn: a.cfg.ASN, AuthPassword: a.cfg.Password},
		Transport: &api.Transport{
			LocalAddress: a.cfg.LocalAddress.String(),
			RemotePort:   uint32(rr.Port()),
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry: 1, // a reflector that comes back is used again within seconds
			// Used only after ResetPeer, which only Stop calls: long enough that the session
			// stays down until StopBgp has removed the peer.
			IdleHoldTimeAfterReset: 60,
			HoldTime:               a.cfg.HoldTime,
			KeepaliveInterval:      max(1, a.cfg.HoldTime/3),
		}},
		// NotificationEnabled (RFC 8538): a Cease other than Hard Reset keeps the routes too,
		// which is how Stop ends the sessions gracefully.
		GracefulRestart: &api.GracefulRestart{Enabled: gr, RestartTime: a.cfg.GracefulRestart.RestartTime, NotificationEnabled: gr},
		AfiSafis:        []*api.AfiSafi{family(route.Family), family(route.SubscriptionFamily)},
	}
}

// Stop ends the agent. The dataplane is left as it is, so traffic keeps flowing while an agent
// restarts. With graceful restart the sessions end with a Cease/Administrative Reset, which
// reflectors that negotiated RFC 8538 treat as a restart (they keep the agent's routes, stale,
// until the new agent's End-of-RIB); without it they end with a Cease that withdraws them.
func (a *Agent) Stop() {
	a.end()
	<-a.done
	if !a.cfg.GracefulRestart.Disabled {
		a.resetSessions()
	}
	if err := a.bgp.StopBgp(context.Background(), &api.StopBgpRequest{}); err != nil {
		a.log.Warn("stop bgp", "err", err)
	}
	a.bgp.Stop()
}

// resetSessions sends every established reflector a non-hard Cease and waits until the sessions
// are down, so that StopBgp, which would send a hard one, finds none to close.
func (a *Agent) resetSessions() {
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	for _, rr := range a.cfg.Reflectors {
		err := a.bgp.ResetPeer(ctx, &api.ResetPeerRequest{Address: rr.Addr().String(), Communication: "netagent restarting"})
		if err != nil {
			a.log.Warn("end session gracefully", "reflector", rr, "err", err)
		}
	}
	for a.Established(ctx) > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
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
