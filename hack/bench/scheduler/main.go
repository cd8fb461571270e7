// Command scheduler benchmarks the machine scheduler: it starts a ferrite-apiserver in process on
// an embedded etcd, measures how fast that apiserver accepts machine creates with no controller
// running (the ceiling), then creates pools and as many machines again with the scheduler
// running, and reports machines bound per second and the p50/p99 time from create to bound. It
// prints figures and never fails on a number; it fails only if a pool ends over-committed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/klog/v2"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
	"github.com/ferrite-dev/ferrite/controllers/machinescheduler"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

func main() {
	pools := flag.Int("pools", 100, "machine pools")
	machines := flag.Int("machines", 10000, "machines to create and schedule")
	clients := flag.Int("clients", 32, "concurrent create requests")
	workers := flag.Int("workers", 128, "scheduler workers")
	klog.InitFlags(nil)
	flag.Parse()
	if err := run(*pools, *machines, *clients, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scheduler:", err)
		os.Exit(1)
	}
}

func run(poolCount, machineCount, clients, workers int) error {
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

	// The ceiling: the same creates with no controller running. They are deleted before the
	// controller manager starts, so no scheduler ever sees them.
	ceiling, _, err := createMachines(ctx, server.Client, "ceiling", machineCount, clients)
	if err != nil {
		return err
	}
	if err := server.Client.ComputeV1alpha1().Machines("ceiling").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	perPool := int64(machineCount/poolCount + 10)
	for i := 0; i < poolCount; i++ {
		if err := createPool(ctx, server.Client, fmt.Sprintf("bench-pool-%03d", i), perPool); err != nil {
			return err
		}
	}

	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.SchedulerWorkers = workers
	// Pools heartbeat once, at create; the run must not outlast the grace.
	o.HeartbeatGrace = time.Hour
	managerCtx, stopManager := context.WithCancel(klog.NewContext(ctx, klog.Background()))
	defer stopManager()
	mgr, err := controllermanager.New(managerCtx, server.Config, nil, o)
	if err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(managerCtx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(managerCtx) {
		return fmt.Errorf("cache did not sync")
	}

	watcher, err := server.Client.ComputeV1alpha1().Machines("bench").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	bound := make(map[string]time.Time, machineCount)
	allBound := make(chan struct{})
	go func() {
		for e := range watcher.ResultChan() {
			m, ok := e.Object.(*computev1alpha1.Machine)
			if !ok || e.Type == watch.Deleted || m.Spec.MachinePoolRef == nil {
				continue
			}
			if _, seen := bound[m.Name]; !seen {
				bound[m.Name] = time.Now()
				if len(bound) == machineCount {
					close(allBound)
					return
				}
			}
		}
	}()
	scheduleStart := time.Now()
	createRate, created, err := createMachines(ctx, server.Client, "bench", machineCount, clients)
	if err != nil {
		return err
	}
	select {
	case <-allBound:
	case <-time.After(15 * time.Minute):
		return fmt.Errorf("only %d of %d machines bound within 15 minutes", len(bound), machineCount)
	}
	watcher.Stop()

	var latencies []time.Duration
	last := scheduleStart
	for name, at := range bound {
		latencies = append(latencies, at.Sub(created[name]))
		if at.After(last) {
			last = at
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	boundRate := float64(machineCount) / last.Sub(scheduleStart).Seconds()
	overcommitted, err := checkPools(ctx, server.Client, poolCount)
	if err != nil {
		return err
	}
	fmt.Printf("bench-scheduler: %d pools, %d machines, %d create clients, %d scheduler workers\n", poolCount, machineCount, clients, workers)
	fmt.Printf("  ceiling: apiserver accepts %.0f machine creates/s with no controller running\n", ceiling)
	fmt.Printf("  creates with the scheduler running: %.0f/s\n", createRate)
	fmt.Printf("  bound: %.0f machines/s (%.2f of the ceiling), first create to last bind %v\n", boundRate, boundRate/ceiling, last.Sub(scheduleStart).Round(time.Millisecond))
	fmt.Printf("  create to bound: p50 %v, p99 %v, max %v\n", percentile(latencies, 0.50), percentile(latencies, 0.99), latencies[len(latencies)-1].Round(time.Millisecond))
	fmt.Printf("  over-committed pools: %d\n", overcommitted)
	if overcommitted > 0 {
		return fmt.Errorf("%d pools over-committed", overcommitted)
	}
	return nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(float64(len(sorted)-1)*p)].Round(time.Millisecond)
}

// createMachines creates count machines from clients goroutines and returns the rate and when
// each create was sent.
func createMachines(ctx context.Context, client versioned.Interface, namespace string, count, clients int) (float64, map[string]time.Time, error) {
	sent := make(map[string]time.Time, count)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count; i += clients {
				m := &computev1alpha1.Machine{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("m-%05d", i)},
					Spec: computev1alpha1.MachineSpec{
						MachineClassRef: corev1.LocalObjectReference{Name: "bench"},
						Image:           "debian-12",
					},
				}
				at := time.Now()
				_, err := client.ComputeV1alpha1().Machines(namespace).Create(ctx, m, metav1.CreateOptions{})
				mu.Lock()
				sent[m.Name] = at
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return float64(count) / time.Since(start).Seconds(), sent, firstErr
}

func createPool(ctx context.Context, client versioned.Interface, name string, allocatable int64) error {
	pool, err := client.ComputeV1alpha1().MachinePools().Create(ctx, &computev1alpha1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	pool.Status.Allocatable = corev1.ResourceList{"bench": *resource.NewQuantity(allocatable, resource.DecimalSI)}
	pool.Status.Capacity = pool.Status.Allocatable
	pool.Status.LastHeartbeatTime = &now
	pool.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now}}
	_, err = client.ComputeV1alpha1().MachinePools().UpdateStatus(ctx, pool, metav1.UpdateOptions{})
	return err
}

// checkPools counts pools whose ledger holds more machines than they allocate.
func checkPools(ctx context.Context, client versioned.Interface, count int) (int, error) {
	list, err := client.ComputeV1alpha1().MachinePools().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	over := 0
	for i := range list.Items {
		if machinescheduler.Reserved(&list.Items[i], "bench") > machinescheduler.Allocatable(&list.Items[i], "bench") {
			over++
		}
	}
	return over, nil
}
