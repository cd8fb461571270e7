//go:debug multipathtcp=0

package reflector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/ferrite-dev/ferrite/net/bgplog"
	"github.com/ferrite-dev/ferrite/net/reflector"
	"github.com/ferrite-dev/ferrite/net/route"
)

// The tests run reflectors on 127.0.3.x and clients, plain GoBGP speakers configured like
// agents, on 127.3.0.x, all on one free port.
var clientPrefix = netip.MustParsePrefix("127.3.0.0/16")

func rrAddr(i int) netip.Addr     { return netip.AddrFrom4([4]byte{127, 0, 3, byte(i)}) }
func clientAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 3, 0, byte(i)}) }

func testLog() *slog.Logger {
	if os.Getenv("FERRITE_LAB_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// freePort finds a port free on every reflector address of the tests.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", rrAddr(1).String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if ln2, err := net.Listen("tcp", fmt.Sprintf("%s:%d", rrAddr(2), port)); err == nil {
			ln2.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func rrConfig(i, port int, peers ...int) reflector.Config {
	cfg := reflector.Config{
		RouterID: rrAddr(i), ListenAddresses: []netip.Addr{rrAddr(i)}, Port: port,
		ClientPrefixes: []netip.Prefix{clientPrefix}, SyncTimeout: 15 * time.Second, Logger: testLog(),
	}
	for _, p := range peers {
		cfg.Peers = append(cfg.Peers, netip.AddrPortFrom(rrAddr(p), uint16(port)))
	}
	return cfg
}

func startRR(t *testing.T, cfg reflector.Config) *reflector.Reflector {
	t.Helper()
	rr, err := reflector.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rr.Stop)
	return rr
}

// speaker is a GoBGP speaker set up as an agent would be: graceful restart, route-target
// constraint, every best path and every withdrawal it sees recorded.
type speaker struct {
	addr netip.Addr
	s    *server.BgpServer

	mu        sync.Mutex
	best      map[route.Route]bool
	lost      map[route.Route]time.Time // withdrawn, maybe for a moment
	withdrawn map[route.Route]int       // withdrawn for longer than debounce
}

func startSpeaker(t *testing.T, addr netip.Addr, password string, reflectors ...netip.AddrPort) *speaker {
	t.Helper()
	ctx := context.Background()
	sp := &speaker{addr: addr, s: server.NewBgpServer(server.LoggerOption(bgplog.New(testLog()))),
		best: map[route.Route]bool{}, lost: map[route.Route]time.Time{}, withdrawn: map[route.Route]int{}}
	go sp.s.Serve()
	t.Cleanup(func() { _ = sp.s.StopBgp(ctx, &api.StopBgpRequest{}); sp.s.Stop() })
	if err := sp.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: route.ASN, RouterId: addr.String(), ListenPort: -1}}); err != nil {
		t.Fatal(err)
	}
	err := sp.s.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_BEST}},
	}}, sp.onBest)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range reflectors {
		err := sp.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:            &api.PeerConf{NeighborAddress: rr.Addr().String(), PeerAsn: route.ASN, AuthPassword: password},
			Transport:       &api.Transport{LocalAddress: addr.String(), RemotePort: uint32(rr.Port())},
			Timers:          &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, IdleHoldTimeAfterReset: 1}},
			GracefulRestart: reflector.GracefulRestart(120*time.Second, false),
			AfiSafis:        reflector.AfiSafis(0),
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

// debounce is how long a route may be missing between a withdrawal and its return without
// counting as withdrawn: GoBGP reports a stale path replaced after a restart as a withdrawal and
// an announcement a millisecond apart, and an agent applies changes debounced (~50 ms).
const debounce = 100 * time.Millisecond

// onBest records best-path changes.
func (sp *speaker) onBest(ev *api.WatchEventResponse) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, p := range ev.GetTable().GetPaths() {
		if p.GetFamily().GetSafi() != route.Family.Safi {
			continue
		}
		r, _, err := route.FromAPI(p)
		if err != nil {
			continue
		}
		if os.Getenv("FERRITE_LAB_LOG") != "" {
			fmt.Fprintf(os.Stderr, "%s speaker %s: %s withdraw=%v stale=%v\n", time.Now().Format("05.000"), sp.addr, r, p.IsWithdraw, p.Stale)
		}
		if p.IsWithdraw {
			delete(sp.best, r)
			sp.lost[r] = time.Now()
			continue
		}
		sp.best[r] = true
		if at, ok := sp.lost[r]; ok {
			if time.Since(at) > debounce {
				sp.withdrawn[r]++
			}
			delete(sp.lost, r)
		}
	}
}

func (sp *speaker) has(r route.Route) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.best[r]
}

func (sp *speaker) withdrawals(r route.Route) int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	n := sp.withdrawn[r]
	if at, ok := sp.lost[r]; ok && time.Since(at) > debounce {
		n++
	}
	return n
}

// announce originates r with the given route distinguisher originator.
func (sp *speaker) announce(t *testing.T, r route.Route, originator netip.Addr) {
	t.Helper()
	p, err := route.ToAPI(r, originator)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.s.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p}); err != nil {
		t.Fatal(err)
	}
}

func (sp *speaker) subscribe(t *testing.T, vni uint32) {
	t.Helper()
	p, err := route.Membership(vni, sp.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.s.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p}); err != nil {
		t.Fatal(err)
	}
}

// established counts the speaker's sessions that are up.
func (sp *speaker) established() int {
	n := 0
	_ = sp.s.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			n++
		}
	})
	return n
}

// hostRoute is the standard route of a /32 in vni owned by the speaker at addr.
func hostRoute(vni uint32, prefix string, addr netip.Addr) route.Route {
	return route.Route{VNI: vni, Prefix: netip.MustParsePrefix(prefix), NextHop: addr}
}

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// reflectorEnv makes the test binary a reflector process (for restarts): its value is the
// JSON of the reflector's Config.
const reflectorEnv = "FERRITE_TEST_REFLECTOR"

func TestMain(m *testing.M) {
	if spec := os.Getenv(reflectorEnv); spec != "" {
		var cfg reflector.Config
		if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
			fmt.Fprintln(os.Stderr, "reflector config:", err)
			os.Exit(2)
		}
		cfg.Logger = testLog()
		if _, err := reflector.Start(context.Background(), cfg); err != nil {
			fmt.Fprintln(os.Stderr, "reflector:", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		// Exit without Stop, as the command does: sessions end without a Cease.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startRRProcess runs a reflector as a child process and returns it running.
func startRRProcess(t *testing.T, cfg reflector.Config) *exec.Cmd {
	t.Helper()
	cfg.Logger = nil
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), reflectorEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil {
		t.Fatalf("reflector process: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}
