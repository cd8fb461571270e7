package net_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/ferrite-dev/ferrite/net/bgplog"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/route"
)

// The benchmark's ceiling is GoBGP on its own: reflectors that are nothing but a GoBGP route
// reflector (run as processes of this test binary, so their memory is measured the same way
// as ours) and clients that are bare GoBGP speakers injecting pre-encoded paths and counting
// their table, with no agent, decoding or dataplane on top.

const bareReflectorEnv = "FERRITE_BENCH_BARE_REFLECTOR" // "routerID port"

func TestMain(m *testing.M) {
	if spec := os.Getenv(bareReflectorEnv); spec != "" {
		if err := runBareReflector(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bare reflector:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runBareReflector serves a plain GoBGP route reflector until killed.
func runBareReflector(spec string) error {
	var id string
	var port int
	if _, err := fmt.Sscan(spec, &id, &port); err != nil {
		return fmt.Errorf("bad spec %q: %w", spec, err)
	}
	ctx := context.Background()
	s := server.NewBgpServer(server.LoggerOption(bgplog.New(quiet)))
	go s.Serve()
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: route.ASN, RouterId: id, ListenPort: int32(port), ListenAddresses: []string{id},
	}})
	if err != nil {
		return err
	}
	err = s.AddPeerGroup(ctx, &api.AddPeerGroupRequest{PeerGroup: &api.PeerGroup{
		Conf:           &api.PeerGroupConf{PeerGroupName: "clients", PeerAsn: route.ASN},
		RouteReflector: &api.RouteReflector{RouteReflectorClient: true, RouteReflectorClusterId: id},
		AfiSafis:       families(),
		Transport:      &api.Transport{PassiveMode: true},
	}})
	if err != nil {
		return err
	}
	err = s.AddDynamicNeighbor(ctx, &api.AddDynamicNeighborRequest{DynamicNeighbor: &api.DynamicNeighbor{
		Prefix: "127.1.0.0/16", PeerGroup: "clients",
	}})
	if err != nil {
		return err
	}
	select {}
}

func families() []*api.AfiSafi {
	return []*api.AfiSafi{
		{Config: &api.AfiSafiConfig{Family: route.Family, Enabled: true}},
		{Config: &api.AfiSafiConfig{Family: route.SubscriptionFamily, Enabled: true}},
	}
}

// bareClient is a plain GoBGP speaker with the same sessions, memberships and paths as an agent.
type bareClient struct {
	s *server.BgpServer

	mu   sync.Mutex
	keys map[string]bool // route keys with a best path, by their encoded NLRI

	expected int // routes it should learn from others
}

func startBareClient(ctx context.Context, self netip.Addr, reflectors []netip.AddrPort) (*bareClient, error) {
	s := server.NewBgpServer(server.LoggerOption(bgplog.New(quiet)))
	go s.Serve()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: route.ASN, RouterId: self.String(), ListenPort: -1}}); err != nil {
		return nil, err
	}
	c := &bareClient{s: s, keys: map[string]bool{}}
	// Count best paths from GoBGP's own event stream: asking the server for its table would
	// queue behind the BGP work being measured.
	err := s.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST}},
	}}, c.onBest)
	if err != nil {
		return nil, err
	}
	for _, rr := range reflectors {
		err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: rr.Addr().String(), PeerAsn: route.ASN},
			Transport: &api.Transport{LocalAddress: self.String(), RemotePort: uint32(rr.Port())},
			Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, IdleHoldTimeAfterReset: 1, HoldTime: benchHoldTime, KeepaliveInterval: benchHoldTime / 3}},
			AfiSafis:  families(),
		}})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *bareClient) onBest(ev *api.WatchEventResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ev.GetTable().GetPaths() {
		if p.GetFamily().GetSafi() != route.Family.Safi || p.Nlri == nil {
			continue
		}
		if p.IsWithdraw {
			delete(c.keys, string(p.Nlri.Value))
		} else {
			c.keys[string(p.Nlri.Value)] = true
		}
	}
}

func (c *bareClient) established(ctx context.Context) int {
	n := 0
	_ = c.s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			n++
		}
	})
	return n
}

func (c *bareClient) add(ctx context.Context, p *api.Path) error {
	_, err := c.s.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p})
	return err
}

// destinations counts the route keys with a best path, the speaker's own included.
func (c *bareClient) destinations(context.Context) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

func (c *bareClient) stop() {
	_ = c.s.StopBgp(context.Background(), &api.StopBgpRequest{})
	c.s.Stop()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// bareBenchClient drives a bareClient for the benchmark, with its paths encoded beforehand.
type bareBenchClient struct {
	c     *bareClient
	paths []*api.Path
	want  int
}

func newBareBenchClient(ctx context.Context, l *lab.Lab, load benchLoad, i int) (client, error) {
	var eps []netip.AddrPort
	for r := 1; r <= load.reflectors; r++ {
		eps = append(eps, l.ReflectorEndpoint(r))
	}
	self := lab.AgentAddr(i)
	c, err := startBareClient(ctx, self, eps)
	if err != nil {
		return nil, err
	}
	m, err := route.Membership(load.vni(i), self)
	if err == nil {
		err = c.add(ctx, m)
	}
	if err != nil {
		return nil, err
	}
	c.expected = load.expected(i)
	b := &bareBenchClient{c: c, want: load.expected(i) + load.routes}
	for j := range load.routes {
		p, err := route.ToAPI(load.route(i, j), self)
		if err != nil {
			return nil, err
		}
		b.paths = append(b.paths, p)
	}
	return b, nil
}

func (b *bareBenchClient) established() int { return b.c.established(context.Background()) }
func (b *bareBenchClient) complete() bool   { return b.c.destinations(context.Background()) >= b.want }
func (b *bareBenchClient) stop()            { b.c.stop() }
func (b *bareBenchClient) learned() int {
	return b.c.destinations(context.Background()) - (b.want - b.c.expected)
}
func (b *bareBenchClient) announceAll() error {
	for _, p := range b.paths {
		if err := b.c.add(context.Background(), p); err != nil {
			return err
		}
	}
	return nil
}

// quiet drops GoBGP's log lines in the benchmark (sessions closing at the end are expected).
var quiet = slog.New(slog.DiscardHandler)
