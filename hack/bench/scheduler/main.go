// Command scheduler benchmarks the schedulers. It starts a ferrite-apiserver in process on an
// embedded etcd and, for each kind (machines, then volumes), in that one apiserver:
//
//  1. ceiling: creates objects from concurrent clients with no controller manager running (after
//     an untimed warm-up), then deletes them before any manager starts: the apiserver's raw
//     create rate;
//  2. backlog: creates pools and N objects with no manager running, starts the controller
//     manager and measures binds per second, N over the time from the manager's start to the
//     last object seen bound (one write per object, as in the ceiling);
//  3. streaming: creates more objects with the manager running and measures the time from each
//     create to its object seen bound (p50/p99/max);
//  4. reports the largest pool object (bytes in protobuf as stored in etcd, and in JSON) and
//     any over-committed pool.
//
// It prints figures and never fails on a number; it fails only if a pool ends over-committed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// benchFlags are the sizes of a run.
type benchFlags struct {
	kinds                                         []string
	pools, machines, streamMachines               int
	volumePools, volumes, volumeCeiling, streamVs int
	clients, workers                              int
	managerQPS                                    float64
	timeout, stall                                time.Duration
	cpuProfile                                    string
}

func main() {
	var f benchFlags
	kinds := flag.String("kinds", "machines,volumes", "kinds to benchmark, in order: machines, volumes")
	flag.IntVar(&f.pools, "pools", 100, "machine pools")
	flag.IntVar(&f.machines, "machines", 10000, "machines of the ceiling and of the backlog")
	flag.IntVar(&f.streamMachines, "stream-machines", 0, "machines created with the manager running (0: as many as -machines)")
	flag.IntVar(&f.volumePools, "volume-pools", 10, "volume pools")
	flag.IntVar(&f.volumes, "volumes", 100000, "volumes of the backlog")
	flag.IntVar(&f.volumeCeiling, "volume-ceiling", 20000, "at most this many volumes for the ceiling")
	flag.IntVar(&f.streamVs, "stream-volumes", 10000, "volumes created with the manager running")
	flag.IntVar(&f.clients, "clients", 32, "concurrent create requests")
	flag.IntVar(&f.workers, "workers", controllermanager.NewOptions().SchedulerWorkers, "concurrent API calls of the scheduler (the manager's --scheduler-workers)")
	flag.Float64Var(&f.managerQPS, "manager-qps", 3000, "client-side QPS limit of the controller manager, as its --kube-api-qps (burst twice that; negative: none)")
	flag.DurationVar(&f.timeout, "timeout", time.Hour, "how long a phase may wait for its objects to be bound (-stall catches a scheduler that stopped)")
	flag.DurationVar(&f.stall, "stall", 2*time.Minute, "give up when no object was bound for this long")
	flag.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the backlog phases (apiserver, etcd and manager share the process) to this file (the last kind's)")
	klog.InitFlags(nil)
	flag.Parse()
	f.kinds = strings.Split(*kinds, ",")
	if f.streamMachines == 0 {
		f.streamMachines = f.machines
	}
	if err := run(f); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scheduler:", err)
		os.Exit(1)
	}
}

func run(f benchFlags) error {
	dir, err := os.MkdirTemp("", "ferrite-bench-scheduler-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	server, err := testserver.StartInDir(dir)
	if err != nil {
		return err
	}
	defer server.Stop()
	ctx := context.Background()

	// The benchmark's clients speak protobuf, as the controller manager does, and are not
	// throttled client-side: the ceiling is the apiserver's.
	clientConfig := rest.CopyConfig(server.Config)
	clientConfig.ContentType = runtime.ContentTypeProtobuf
	clientConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	clientConfig.QPS = -1
	client, err := versioned.NewForConfig(clientConfig)
	if err != nil {
		return err
	}
	managerConfig := rest.CopyConfig(server.Config)
	managerConfig.QPS, managerConfig.Burst = float32(f.managerQPS), int(2*f.managerQPS)

	var failed []string
	for _, name := range f.kinds {
		var s spec
		switch strings.TrimSpace(name) {
		case "machines":
			s = spec{k: machines{client}, pools: f.pools, ceiling: f.machines, backlog: f.machines, stream: f.streamMachines}
		case "volumes":
			s = spec{k: volumes{client}, pools: f.volumePools, ceiling: min(f.volumes, f.volumeCeiling), backlog: f.volumes, stream: f.streamVs}
		default:
			return fmt.Errorf("unknown kind %q (machines, volumes)", name)
		}
		r, err := benchKind(ctx, server, managerConfig, s, f)
		if err != nil {
			printPools(ctx, server, s.k)
			return fmt.Errorf("%s: %w", s.k.name(), err)
		}
		r.print(s, f)
		if len(r.overcommitted) > 0 {
			failed = append(failed, fmt.Sprintf("%d %s pools over-committed", len(r.overcommitted), s.k.name()))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}

// spec is one kind's share of the run.
type spec struct {
	k                               kind
	pools, ceiling, backlog, stream int
}

// result holds one kind's figures.
type result struct {
	began                     time.Time
	took                      time.Duration
	ceiling                   float64
	createCPU, bindCPU        time.Duration
	backlogCreates            float64
	synced, backlogSpan       time.Duration
	streamCreates, streamRate float64
	streamSpan                time.Duration
	latencies                 []time.Duration
	largest                   poolSize
	poolCount                 int
	overcommitted             []string
}

func benchKind(ctx context.Context, server *testserver.Server, managerConfig *rest.Config, s spec, f benchFlags) (result, error) {
	r := result{began: time.Now()}
	k := s.k
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench-scheduler: %s: %s\n", k.name(), fmt.Sprintf(format, args...))
	}

	progress("ceiling: %d creates, no manager", s.ceiling)
	var err error
	if r.ceiling, r.createCPU, err = ceilingPhase(ctx, k, s.ceiling, f.clients); err != nil {
		return r, err
	}

	progress("backlog: %d pools, %d creates, no manager", s.pools, s.backlog)
	units := int64(2*max(s.backlog, s.stream)/s.pools + 10)
	for i := 0; i < s.pools; i++ {
		if err := k.createPool(ctx, fmt.Sprintf("bench-%s-pool-%03d", k.name(), i), units); err != nil {
			return r, err
		}
	}
	backlogNamespace := "backlog-" + k.name()
	if r.backlogCreates, _, err = createAll(ctx, k, backlogNamespace, s.backlog, f.clients); err != nil {
		return r, err
	}
	backlog, err := watchBound(ctx, k, backlogNamespace, s.backlog)
	if err != nil {
		return r, err
	}
	progress("backlog: manager started")
	cpu := processCPU()
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return r, err
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return r, err
		}
	}
	mgr, err := startManager(ctx, managerConfig, f.workers)
	if err != nil {
		return r, err
	}
	defer mgr.stop()
	r.synced = mgr.synced
	last, err := backlog.wait(f.timeout, f.stall)
	if err != nil {
		return r, fmt.Errorf("backlog: %w", err)
	}
	r.backlogSpan = last.Sub(mgr.started)
	r.bindCPU = (processCPU() - cpu) / time.Duration(s.backlog)
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}

	progress("streaming: %d creates, manager running", s.stream)
	streamNamespace := "stream-" + k.name()
	stream, err := watchBound(ctx, k, streamNamespace, s.stream)
	if err != nil {
		return r, err
	}
	start := time.Now()
	var sent map[string]time.Time
	r.streamCreates, sent, err = createAll(ctx, k, streamNamespace, s.stream, f.clients)
	if err != nil {
		return r, err
	}
	if last, err = stream.wait(f.timeout, f.stall); err != nil {
		return r, fmt.Errorf("streaming: %w", err)
	}
	r.streamSpan = last.Sub(start)
	r.streamRate = float64(s.stream) / r.streamSpan.Seconds()
	r.latencies = latencies(sent, stream.at)

	pools, err := k.pools(ctx)
	if err != nil {
		return r, err
	}
	r.poolCount = len(pools)
	for _, p := range pools {
		for _, o := range p.overcommitted {
			r.overcommitted = append(r.overcommitted, p.name+": "+o)
		}
	}
	r.largest, err = largestPool(ctx, server, pools)
	r.took = time.Since(r.began)
	return r, err
}

func (r result) print(s spec, f benchFlags) {
	k := s.k.name()
	fmt.Printf("bench-scheduler %s: %d pools, %d %s (backlog) + %d (streaming), %d create clients, %d scheduler workers, manager client %.0f qps\n",
		k, s.pools, s.backlog, k, s.stream, f.clients, f.workers, f.managerQPS)
	fmt.Printf("  ceiling: apiserver accepts %.0f creates/s with no controller running (%d %s)\n", r.ceiling, s.ceiling, k)
	fmt.Printf("  backlog: %d created at %.0f/s with no manager; manager start to last bind %v (cache synced after %v)\n",
		s.backlog, r.backlogCreates, r.backlogSpan.Round(time.Millisecond), r.synced.Round(time.Millisecond))
	binds := float64(s.backlog) / r.backlogSpan.Seconds()
	fmt.Printf("  binds/s: %.0f (%.2f of the ceiling)\n", binds, binds/r.ceiling)
	fmt.Printf("  process CPU per create (ceiling) %v, per bind (backlog: manager included) %v\n", r.createCPU.Round(time.Microsecond), r.bindCPU.Round(time.Microsecond))
	fmt.Printf("  streaming: %.0f creates/s with the manager running; bound %.0f/s over the phase (%v)\n",
		r.streamCreates, r.streamRate, r.streamSpan.Round(time.Millisecond))
	fmt.Printf("  create to bound: p50 %v, p99 %v, max %v\n",
		percentile(r.latencies, 0.50), percentile(r.latencies, 0.99), percentile(r.latencies, 1))
	l := r.largest
	stored := "n/a"
	if l.etcd > 0 {
		stored = fmt.Sprint(l.etcd)
	}
	fmt.Printf("  largest pool: %s, %d bytes protobuf (%s in etcd), %d bytes JSON, %d reservations\n", l.name, l.protobuf, stored, l.json, l.reservations)
	fmt.Printf("  over-committed pools: %d of %d\n", len(r.overcommitted), r.poolCount)
	for _, o := range r.overcommitted {
		fmt.Printf("    %s\n", o)
	}
	fmt.Printf("  all phases: %v\n", r.took.Round(time.Second))
}

// printPools says, after a failed phase, what the pools of the kind look like.
func printPools(ctx context.Context, server *testserver.Server, k kind) {
	pools, err := k.pools(ctx)
	if err != nil {
		return
	}
	over := 0
	for _, p := range pools {
		if len(p.overcommitted) > 0 {
			over++
		}
	}
	l, err := largestPool(ctx, server, pools)
	if err != nil {
		return
	}
	fmt.Fprintf(os.Stderr, "bench-scheduler: %s: largest pool %s, %d bytes protobuf (%d in etcd), %d bytes JSON, %d reservations; %d of %d pools over-committed\n",
		k.name(), l.name, l.protobuf, l.etcd, l.json, l.reservations, over, len(pools))
}
