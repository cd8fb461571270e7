// Package load runs the operations of a benchmark from concurrent clients and measures their
// rate, their latency and the CPU time the apiserver, etcd and the benchmark itself used
// meanwhile, each read from its own /proc entry. The API benchmark (hack/bench/api) and the
// Machine benchmark (hack/bench/machines) share it.
package load

import (
	"context"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
)

// Result is what one load phase measured.
type Result struct {
	// Ops is the number of operations run; Errors how many failed, FirstErr the first failure.
	Ops, Errors int
	FirstErr    error
	Elapsed     time.Duration
	// Latencies are the operations' durations, sorted.
	Latencies []time.Duration
	// CPU is the CPU seconds each process used during the phase.
	CPU CPUUsage
}

// PerSecond is successful operations per second.
func (r Result) PerSecond() float64 { return float64(r.Ops-r.Errors) / r.Elapsed.Seconds() }

// Percentile returns the p-th percentile latency (0 < p <= 100).
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	i = max(0, min(i, len(r.Latencies)-1))
	return r.Latencies[i]
}

// CPUPerThousand is CPU seconds per 1,000 successful operations (= ms per operation).
func (r Result) CPUPerThousand(seconds float64) float64 {
	if r.Ops == r.Errors {
		return 0
	}
	return seconds * 1000 / float64(r.Ops-r.Errors)
}

// CPUUsage is the CPU seconds used by the apiserver, etcd and this benchmark process.
type CPUUsage struct{ APIServer, Etcd, Client float64 }

// Since is the CPU used from before to u.
func (u CPUUsage) Since(before CPUUsage) CPUUsage {
	return CPUUsage{u.APIServer - before.APIServer, u.Etcd - before.Etcd, u.Client - before.Client}
}

// CPUMeter samples the CPU time of the processes of a run; a zero PID is not sampled.
type CPUMeter struct{ APIServerPID, EtcdPID int }

var selfPID = os.Getpid()

// Sample reads the CPU time each process has used so far.
func (m CPUMeter) Sample() CPUUsage {
	var u CPUUsage
	if m.APIServerPID != 0 {
		u.APIServer, _ = cluster.CPUSeconds(m.APIServerPID)
	}
	if m.EtcdPID != 0 {
		u.Etcd, _ = cluster.CPUSeconds(m.EtcdPID)
	}
	u.Client, _ = cluster.CPUSeconds(selfPID)
	return u
}

// Run performs operations 0..n-1 from the given number of concurrent workers and measures
// each operation's latency and the CPU the processes used meanwhile. It stops taking new
// operations when ctx ends.
func Run(ctx context.Context, meter CPUMeter, n, workers int, op func(ctx context.Context, worker, i int) error) Result {
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var mu sync.Mutex
	res := Result{Ops: n}
	before := meter.Sample()
	start := time.Now()
	var wg sync.WaitGroup
	for worker := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := op(ctx, worker, i)
				latencies[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.CPU = meter.Sample().Since(before)
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	res.Latencies = latencies
	return res
}

// OwnConnection returns a copy of config whose clients open their own connection, as separate
// processes would, instead of sharing the one client-go keeps per configuration (a config with
// its own Dial function is never shared from client-go's transport cache).
func OwnConnection(config *rest.Config) *rest.Config {
	c := rest.CopyConfig(config)
	c.Dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	return c
}
