package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
)

// result is what one load phase measured.
type result struct {
	ops       int
	errors    int
	firstErr  error
	elapsed   time.Duration
	latencies []time.Duration // sorted
	cpu       cpuUsage        // CPU seconds each process used during the phase
}

func (r result) perSecond() float64 { return float64(r.ops-r.errors) / r.elapsed.Seconds() }

// percentile returns the p-th percentile latency (0 < p <= 100).
func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p/100+0.5) - 1
	i = max(0, min(i, len(r.latencies)-1))
	return r.latencies[i]
}

// cpuPerThousand is CPU seconds per 1,000 successful operations (= ms per operation).
func (r result) cpuPerThousand(seconds float64) float64 {
	if r.ops == r.errors {
		return 0
	}
	return seconds * 1000 / float64(r.ops-r.errors)
}

// cpuUsage is the CPU seconds used by the apiserver, etcd and this benchmark process.
type cpuUsage struct{ apiserver, etcd, client float64 }

// cpuMeter samples the CPU time of the processes of the run.
type cpuMeter struct{ apiserverPID, etcdPID int }

func (m cpuMeter) sample() cpuUsage {
	var u cpuUsage
	if m.apiserverPID != 0 {
		u.apiserver, _ = cluster.CPUSeconds(m.apiserverPID)
	}
	u.etcd, _ = cluster.CPUSeconds(m.etcdPID)
	u.client, _ = cluster.CPUSeconds(selfPID)
	return u
}

func (u cpuUsage) since(before cpuUsage) cpuUsage {
	return cpuUsage{u.apiserver - before.apiserver, u.etcd - before.etcd, u.client - before.client}
}

// runLoad performs n operations with the given number of concurrent workers and measures
// each operation's latency and the CPU the processes used meanwhile.
func runLoad(ctx context.Context, meter cpuMeter, n, workers int, op func(ctx context.Context, worker, i int) error) result {
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var mu sync.Mutex
	res := result{ops: n}
	before := meter.sample()
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
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = meter.sample().since(before)
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	res.latencies = latencies
	return res
}

// newMachine is the Machine every create sends: a realistic one with a class, a pool
// selector, an image, an ephemeral root volume, an empty disk and an ephemeral NIC.
func newMachine(name string) *computev1alpha1.Machine {
	size := resource.MustParse("10Gi")
	scratch := resource.MustParse("1Gi")
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: "x3-small"},
			MachinePoolSelector: map[string]string{"topology.ferrite.dev/zone": "zone-a"},
			Power:               computev1alpha1.PowerOn,
			Image:               "ghcr.io/ferrite-dev/images/debian:12",
			Volumes: []computev1alpha1.MachineVolume{
				{Name: "root", Device: "vda", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
					VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
					Resources:      corev1.ResourceList{corev1.ResourceStorage: size},
					Image:          "ghcr.io/ferrite-dev/images/debian:12",
				}},
				{Name: "scratch", Device: "vdb", EmptyDisk: &computev1alpha1.EmptyDiskSource{SizeLimit: &scratch}},
			},
			NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{
				{Name: "primary", Ephemeral: &computev1alpha1.EphemeralNetworkInterfaceSource{
					NetworkRef: corev1.LocalObjectReference{Name: "frontend"},
				}},
			},
		},
	}
}

// machineName is the name of the i-th Machine of a phase.
func machineName(i int) string { return fmt.Sprintf("machine-%06d", i) }

// createMachines creates n Machines named machineName(0..n-1) in namespace with the given
// number of concurrent clients; client w uses clients[w % len(clients)].
func createMachines(ctx context.Context, meter cpuMeter, clients []versioned.Interface, namespace string, n, workers int) result {
	return runLoad(ctx, meter, n, workers, func(ctx context.Context, worker, i int) error {
		machines := clients[worker%len(clients)].ComputeV1alpha1().Machines(namespace)
		_, err := machines.Create(ctx, newMachine(machineName(i)), metav1.CreateOptions{})
		return err
	})
}

// etcdCeiling performs n create-if-absent transactions of value under prefix, straight to
// etcd, as the apiserver's storage does for a create: put the key only if it does not exist.
func etcdCeiling(ctx context.Context, meter cpuMeter, etcd *clientv3.Client, prefix string, value []byte, n, workers int) result {
	meter.apiserverPID = 0
	v := string(value)
	return runLoad(ctx, meter, n, workers, func(ctx context.Context, _, i int) error {
		key := prefix + machineName(i)
		resp, err := etcd.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, v)).Commit()
		if err == nil && !resp.Succeeded {
			err = errors.New("key exists: " + key)
		}
		return err
	})
}
