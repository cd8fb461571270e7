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
	"github.com/ferrite-dev/ferrite/net/dataplane"
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
	// After every reflector is killed and started again: how long until every client has
	// every session and every route again, and the lowest share of routes the clients held.
	reconverge time.Duration
	lowest     float64
}

// client is what the benchmark needs of an agent or a bare GoBGP speaker.
type client interface {
	ready() bool // sessions up and, for an agent, its first Apply done
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
	ferrite := func(l *lab.Lab, i int) []string {
		a := lab.ReflectorAddr(i).String()
		return []string{bin + "/route-reflector", "--router-id", a, "--listen", a, "--port", fmt.Sprint(l.Port),
			"--client-prefixes", "127.1.0.0/16", "--http", fmt.Sprintf("%s:%d", a, freePort(t))}
	}
	// At the defaults (100 agents, 1,000 routes) one distribution takes 4-5 minutes on two
	// cores. The default run is the ceiling's distribution and Ferrite's (graceful restart)
	// distribution and reflector restart, about 12 minutes; FERRITE_BENCH_FULL=1 adds the
	// ceiling's restart and Ferrite without graceful restart (the comparison the restart
	// figures need), about 25 minutes.
	full := os.Getenv("FERRITE_BENCH_FULL") != ""
	results := []benchResult{runBench(t, load, "GoBGP route reflection alone (ceiling)", full, func(l *lab.Lab, i int) []string {
		return []string{os.Args[0], "-test.run=^$"}
	}, func(ctx context.Context, l *lab.Lab, i int) (client, error) {
		return newBareBenchClient(ctx, l, load, i)
	})}
	ceiling := results[0]
	if full {
		results = append(results, runBench(t, load, "Ferrite, no graceful restart", true, ferrite, func(ctx context.Context, l *lab.Lab, i int) (client, error) {
			return newAgentBenchClient(ctx, l, load, i, false)
		}))
	}
	ours := runBench(t, load, "Ferrite, graceful restart", true, ferrite, func(ctx context.Context, l *lab.Lab, i int) (client, error) {
		return newAgentBenchClient(ctx, l, load, i, true)
	})
	results = append(results, ours)

	var b strings.Builder
	fmt.Fprintf(&b, "\nbench-routes: %d reflectors, %d agents, %d routes each (%d routes), %d VNIs: each agent learns %d routes\n",
		load.reflectors, load.agents, load.routes, load.agents*load.routes, load.vnis, load.expected(0))
	fmt.Fprintf(&b, "%-40s %12s %26s %14s %16s %14s\n", "", "all learned", "reflector peak RSS (each)", "clients' heap",
		"after restart", "lowest held")
	for _, r := range results {
		var mem []string
		for _, k := range r.peakKiB {
			mem = append(mem, fmt.Sprintf("%d MiB", k/1024))
		}
		restart, lowest := "-", "-"
		if r.reconverge > 0 {
			restart, lowest = r.reconverge.Round(10*time.Millisecond).String(), fmt.Sprintf("%.1f%%", 100*r.lowest)
		}
		fmt.Fprintf(&b, "%-40s %12s %26s %10d MiB %16s %14s\n", r.name, r.converge.Round(10*time.Millisecond),
			strings.Join(mem, ", "), r.heap>>20, restart, lowest)
	}
	if ceiling.converge > 0 && len(ceiling.peakKiB) > 0 && ceiling.peakKiB[0] > 0 {
		fmt.Fprintf(&b, "%-40s %11.2fx %25.2fx %13.2fx\n", "Ferrite (graceful restart) / ceiling",
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
// learned every route of its VNI. With restart it then kills and restarts every reflector and
// times how long until every client is complete again.
func runBench(t *testing.T, load benchLoad, name string, restart bool, reflectorCmd func(*lab.Lab, int) []string,
	newClient func(context.Context, *lab.Lab, int) (client, error)) benchResult {
	ctx := context.Background()
	res := benchResult{name: name}
	l, err := lab.New()
	if err != nil {
		t.Fatal(err)
	}
	procs := make([]*exec.Cmd, load.reflectors)
	start := func(i int) {
		args := reflectorCmd(l, i)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", bareReflectorEnv, lab.ReflectorAddr(i), l.Port))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i-1] = cmd
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
	defer func() {
		for _, cmd := range procs {
			if cmd != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		}
	}()
	for i := 1; i <= load.reflectors; i++ {
		start(i)
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
	if !lab.Eventually(2*time.Minute, func() bool {
		for _, c := range clients {
			if !c.ready() {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("%s: not every client became ready (synchronised with the reflectors)", name)
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
	res.converge, res.completed, _ = follow(t, name, load, clients, begin)
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

	if !restart {
		stopAll(clients)
		return res
	}
	// Every reflector dies (no Cease: the sessions just break) and starts again.
	begin = time.Now()
	for i, cmd := range procs {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		procs[i] = nil
	}
	for i := 1; i <= load.reflectors; i++ {
		start(i)
	}
	var restarted int
	res.reconverge, restarted, res.lowest = follow(t, name+" (reflectors restarted)", load, clients, begin)
	if restarted != len(clients) {
		t.Errorf("%s: only %d of %d clients had every route again within 45 minutes of the reflector restart", name, restarted, len(clients))
	}
	t.Logf("%s: after the reflector restart, complete again in %s, lowest share held %.1f%%", name, res.reconverge, 100*res.lowest)
	stopAll(clients)
	return res
}

// stopAll stops the clients and returns their memory, so the next run starts clean.
func stopAll(clients []client) {
	for _, c := range clients {
		c.stop()
	}
	runtime.GC()
	debug.FreeOSMemory()
}

// follow polls the clients every 250 ms (a bare client answers by scanning its table, which
// must not starve its BGP loop), bounded by 45 minutes, until each has every session and every
// route; figures are to the poll interval. It returns the time taken, how many clients got
// there, and the lowest share of all expected routes that the clients held at one poll.
func follow(t *testing.T, name string, load benchLoad, clients []client, begin time.Time) (time.Duration, int, float64) {
	done := make([]bool, len(clients))
	completed, lowest := 0, 1.0
	deadline, lastLog := begin.Add(45*time.Minute), begin
	for completed < len(clients) && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		total := 0
		for i, c := range clients {
			total += min(c.learned(), load.expected(i))
			if !done[i] && c.complete() && c.established() == load.reflectors {
				done[i] = true
				completed++
			}
		}
		share := float64(total) / float64(len(clients)*load.expected(0))
		lowest = min(lowest, share)
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			t.Logf("%s: %d of %d clients complete after %s (%.1f%% of all routes held)", name, completed, len(clients),
				time.Since(begin).Round(time.Second), 100*share)
		}
	}
	return time.Since(begin), completed, lowest
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
	a     *agent.Agent
	load  benchLoad
	i     int
	local agent.Local
}

func newAgentBenchClient(ctx context.Context, l *lab.Lab, load benchLoad, i int, graceful bool) (client, error) {
	eps := []netip.AddrPort{}
	for r := 1; r <= load.reflectors; r++ {
		eps = append(eps, l.ReflectorEndpoint(r))
	}
	a, err := agent.Start(ctx, agent.Config{RouterID: lab.AgentAddr(i), LocalAddress: lab.AgentAddr(i),
		Reflectors: eps, Dataplane: &countingDataplane{}, Logger: l.Log, HoldTime: benchHoldTime,
		GracefulRestart: agent.GracefulRestart{Disabled: !graceful, EndOfRIBWait: 5 * time.Second}})
	if err != nil {
		return nil, err
	}
	c := &agentBenchClient{a: a, load: load, i: i, local: agent.Local{Subscriptions: []uint32{load.vni(i)}}}
	if err := a.SetLocal(ctx, c.local); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *agentBenchClient) ready() bool {
	return c.established() == c.load.reflectors && c.a.Stats().Applies > 0
}
func (c *agentBenchClient) established() int { return c.a.Established(context.Background()) }
func (c *agentBenchClient) complete() bool   { return c.learned() >= c.load.expected(c.i) }
func (c *agentBenchClient) stop()            { c.a.Stop() }

// learned counts the routes in the agent's last successful Apply: what a dataplane would have.
func (c *agentBenchClient) learned() int { return c.a.Stats().Installed }
func (c *agentBenchClient) announceAll() error {
	for j := range c.load.routes {
		c.local.Routes = append(c.local.Routes, c.load.route(c.i, j))
	}
	return c.a.SetLocal(context.Background(), c.local)
}

// countingDataplane takes the agent's state and keeps nothing: the benchmark measures route
// distribution, not a dataplane.
type countingDataplane struct{}

// Apply accepts s.
func (countingDataplane) Apply(context.Context, dataplane.State) (dataplane.Result, error) {
	return dataplane.Result{}, nil
}

// ready: runBench has already waited for the bare client's sessions, and it has nothing else
// to wait for.
func (b *bareBenchClient) ready() bool { return true }
