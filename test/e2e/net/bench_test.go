package net_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane/memory"
	"github.com/ferrite-dev/ferrite/net/lab"
	"github.com/ferrite-dev/ferrite/net/route"
)

// benchLoad is the benchmark's shape: agent i is in VNI 1+i%vnis and originates routes /32s.
type benchLoad struct{ agents, routes, vnis, reflectors int }

func (l benchLoad) vni(i int) uint32 { return uint32(1 + i%l.vnis) }

// expected is how many routes agent i must learn: every route of the other agents in its VNI.
func (l benchLoad) expected(i int) int {
	peers := 0
	for j := range l.agents {
		if j != i && l.vni(j) == l.vni(i) {
			peers++
		}
	}
	return peers * l.routes
}

func (l benchLoad) route(i, j int) route.Route {
	n := uint32(10)<<24 | uint32(i*l.routes+j)
	return route.Route{VNI: l.vni(i), Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), 32),
		NextHop: lab.AgentAddr(i)}
}

// benchHoldTime is the BGP hold time of every benchmark session: a hundred speakers in one
// process on two cores can be late with keepalives for longer than a production hold time, and
// a dropped session would measure recovery instead of distribution.
const benchHoldTime = 90

// benchResult is one run's figures.
type benchResult struct {
	name      string
	converge  time.Duration
	peakKiB   []int64 // reflector peak resident memory
	heap      uint64  // heap in use by all clients (this process) after convergence
	completed int
}

// client is what the benchmark needs of an agent or a bare GoBGP speaker.
type client interface {
	established() int
	announceAll() error
	complete() bool
	learned() int
	stop()
}

func TestBenchRoutes(t *testing.T) {
	requireE2E(t)
	if os.Getenv("FERRITE_BENCH_ROUTES") == "" {
		t.Skip("route benchmark: run `make bench-routes`")
	}
	load := benchLoad{agents: envInt("FERRITE_BENCH_AGENTS", 100), routes: envInt("FERRITE_BENCH_ROUTES_PER_AGENT", 1000),
		vnis: envInt("FERRITE_BENCH_VNIS", 10), reflectors: 2}
	bin := binaries(t)
	ceiling := runBench(t, load, "GoBGP route reflection alone (ceiling)", func(l *lab.Lab, i int) []string {
		return []string{os.Args[0], "-test.run=^$"}
	}, func(ctx context.Context, l *lab.Lab, i int) (client, error) {
		return newBareBenchClient(ctx, l, load, i)
	})
	ours := runBench(t, load, "Ferrite route-reflector + netagent", func(l *lab.Lab, i int) []string {
		a := lab.ReflectorAddr(i).String()
		return []string{bin + "/route-reflector", "--router-id", a, "--listen", a, "--port", fmt.Sprint(l.Port),
			"--client-prefixes", "127.1.0.0/16", "--http", fmt.Sprintf("%s:%d", a, freePort(t))}
	}, func(ctx context.Context, l *lab.Lab, i int) (client, error) {
		return newAgentBenchClient(ctx, l, load, i)
	})

	var b strings.Builder
	fmt.Fprintf(&b, "\nbench-routes: %d reflectors, %d agents, %d routes each (%d routes), %d VNIs: each agent learns %d routes\n",
		load.reflectors, load.agents, load.routes, load.agents*load.routes, load.vnis, load.expected(0))
	fmt.Fprintf(&b, "%-40s %12s %28s %16s\n", "", "all learned", "reflector peak RSS (each)", "clients' heap")
	for _, r := range []benchResult{ceiling, ours} {
		var mem []string
		for _, k := range r.peakKiB {
			mem = append(mem, fmt.Sprintf("%d MiB", k/1024))
		}
		fmt.Fprintf(&b, "%-40s %12s %28s %12d MiB\n", r.name, r.converge.Round(10*time.Millisecond), strings.Join(mem, ", "), r.heap>>20)
	}
	if ceiling.converge > 0 && len(ceiling.peakKiB) > 0 && ceiling.peakKiB[0] > 0 {
		fmt.Fprintf(&b, "%-40s %11.2fx %27.2fx %15.2fx\n", "Ferrite / ceiling",
			float64(ours.converge)/float64(ceiling.converge),
			float64(sum(ours.peakKiB))/float64(sum(ceiling.peakKiB)), float64(ours.heap)/float64(max(1, ceiling.heap)))
	}
	fmt.Print(b.String())
	if out := os.Getenv("FERRITE_BENCH_OUT"); out != "" {
		_ = os.WriteFile(out, []byte(b.String()), 0o644)
	}
}

func sum(xs []int64) (s int64) {
	for _, x := range xs {
		s += x
	}
	return s
}

// runBench starts the reflectors (processes) and the clients (in process), waits for every
// session, then announces every route at once and times how long until every client has
// learned every route of its VNI.
func runBench(t *testing.T, load benchLoad, name string, reflectorCmd func(*lab.Lab, int) []string,
	newClient func(context.Context, *lab.Lab, int) (client, error)) benchResult {
	ctx := context.Background()
	res := benchResult{name: name}
	l, err := lab.New()
	if err != nil {
		t.Fatal(err)
	}
	var procs []*exec.Cmd
	for i := 1; i <= load.reflectors; i++ {
		args := reflectorCmd(l, i)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", bareReflectorEnv, lab.ReflectorAddr(i), l.Port))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		ep := l.ReflectorEndpoint(i).String()
		if !lab.Eventually(30*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", ep, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}) {
			t.Fatalf("%s: reflector %d never listened on %s", name, i, ep)
		}
	}
	clients := make([]client, load.agents)
	for i := range clients {
		if clients[i], err = newClient(ctx, l, i); err != nil {
			t.Fatal(err)
		}
	}
	if !lab.Eventually(2*time.Minute, func() bool {
		for _, c := range clients {
			if c.established() != load.reflectors {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("%s: not every client reached every reflector", name)
	}
	time.Sleep(time.Second) // let the subscriptions settle before the clock starts

	begin := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.announceAll(); err != nil {
				t.Error(err)
			}
		}()
	}
	// Poll every 250 ms (a bare client answers by scanning its table, which must not starve
	// its BGP loop), bounded by 45 minutes; figures are to the poll interval.
	done := make([]bool, len(clients))
	deadline, lastLog := begin.Add(45*time.Minute), begin
	for res.completed < len(clients) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		for i, c := range clients {
			if !done[i] && c.complete() {
				done[i] = true
				res.completed++
			}
		}
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			total := 0
			for _, c := range clients {
				total += c.learned()
			}
			t.Logf("%s: %d of %d clients complete after %s (%.1f%% of all routes learned)", name, res.completed, len(clients),
				time.Since(begin).Round(time.Second), 100*float64(total)/float64(len(clients)*load.expected(0)))
		}
	}
	res.converge = time.Since(begin)
	wg.Wait()
	if res.completed != len(clients) {
		t.Errorf("%s: only %d of %d clients learned every route within 45 minutes", name, res.completed, len(clients))
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heap = ms.HeapInuse
	for _, p := range procs {
		res.peakKiB = append(res.peakKiB, peakRSS(p.Process.Pid))
	}
	t.Logf("%s: converged in %s, reflectors peak RSS %v KiB", name, res.converge, res.peakKiB)
	for _, c := range clients {
		c.stop()
	}
	clients = nil
	runtime.GC()
	debug.FreeOSMemory()
	return res
}

// peakRSS reads a process's peak resident set (VmHWM) in KiB.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmHWM:"), "kB")), &kib)
			return kib
		}
	}
	return -1
}

type agentBenchClient struct {
	a    *agent.Agent
	load benchLoad
	i    int
}

func newAgentBenchClient(ctx context.Context, l *lab.Lab, load benchLoad, i int) (client, error) {
	eps := []netip.AddrPort{}
	for r := 1; r <= load.reflectors; r++ {
		eps = append(eps, l.ReflectorEndpoint(r))
	}
	a, err := agent.Start(ctx, agent.Config{RouterID: lab.AgentAddr(i), LocalAddress: lab.AgentAddr(i),
		Reflectors: eps, Dataplane: &memory.Dataplane{}, Logger: l.Log, HoldTime: benchHoldTime})
	if err != nil {
		return nil, err
	}
	if err := a.Subscribe(ctx, load.vni(i)); err != nil {
		return nil, err
	}
	return &agentBenchClient{a: a, load: load, i: i}, nil
}

func (c *agentBenchClient) established() int { return c.a.Established(context.Background()) }
func (c *agentBenchClient) complete() bool   { return c.a.LearnedCount() >= c.load.expected(c.i) }
func (c *agentBenchClient) stop()            { c.a.Stop() }
func (c *agentBenchClient) learned() int     { return c.a.LearnedCount() }
func (c *agentBenchClient) announceAll() error {
	for j := range c.load.routes {
		if err := c.a.Announce(context.Background(), c.load.route(c.i, j)); err != nil {
			return err
		}
	}
	return nil
}
