package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/klog/v2"

	"github.com/ferrite-dev/ferrite/controllers/controllermanager"
)

// ceilingPhase creates count objects with no controller manager running, after an untimed
// warm-up of a few hundred, with one watcher on them as the other phases have, then deletes them all and waits until they are gone, so that no
// manager ever sees them. It returns creates per second and the process's CPU time per create.
func ceilingPhase(ctx context.Context, k kind, count, clients int) (float64, time.Duration, error) {
	warmup, ceiling := "warmup-"+k.name(), "ceiling-"+k.name()
	if _, _, err := createAll(ctx, k, warmup, min(count, 500), clients); err != nil {
		return 0, 0, err
	}
	// The benchmark watches the objects of the other phases to see them bound; it watches these
	// too, so the ceiling carries the same cost of one watcher.
	watcher, err := k.watch(ctx, ceiling, metav1.ListOptions{})
	if err != nil {
		return 0, 0, err
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range watcher.ResultChan() {
		}
	}()
	cpu := processCPU()
	rate, _, err := createAll(ctx, k, ceiling, count, clients)
	cpuPer := (processCPU() - cpu) / time.Duration(count)
	watcher.Stop()
	<-drained
	if err != nil {
		return 0, 0, err
	}
	for _, namespace := range []string{warmup, ceiling} {
		if err := k.deleteAll(ctx, namespace); err != nil {
			return 0, 0, err
		}
		err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
			left, _, err := k.list(ctx, namespace)
			return left == 0, err
		})
		if err != nil {
			return 0, 0, fmt.Errorf("waiting for the %s of %s to be deleted: %w", k.name(), namespace, err)
		}
	}
	return rate, cpuPer, nil
}

// processCPU is the CPU time (user and system) the process has used so far: the apiserver,
// etcd, the clients and, while it runs, the controller manager all live in it.
func processCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// createAll creates count objects in namespace from clients goroutines; it returns the create
// rate and when each create was sent, by name. It stops at the first error.
func createAll(ctx context.Context, k kind, namespace string, count, clients int) (float64, map[string]time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(map[string]time.Time, count)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < count && ctx.Err() == nil; i += clients {
				name := objectName(k, i)
				at := time.Now()
				err := k.create(ctx, namespace, name)
				mu.Lock()
				sent[name] = at
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("creating %s %s/%s: %w", k.name(), namespace, name, err)
					cancel()
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return float64(count) / time.Since(start).Seconds(), sent, firstErr
}

func objectName(k kind, i int) string {
	return fmt.Sprintf("%c-%06d", k.name()[0], i)
}

// boundWatch records when each object of a namespace is first seen bound, through a watch
// that starts at the namespace's current resourceVersion.
type boundWatch struct {
	kind    string
	want    int
	watcher *watchtools.RetryWatcher
	done    chan struct{}
	// seen and lastSeen (unix nanoseconds) let wait report progress and notice a stall.
	seen, lastSeen atomic.Int64
	// at and err are written by the watch goroutine and read once done is closed.
	at  map[string]time.Time
	err error
}

func watchBound(ctx context.Context, k kind, namespace string, want int) (*boundWatch, error) {
	_, rv, err := k.list(ctx, namespace)
	if err != nil {
		return nil, err
	}
	watcher, err := watchtools.NewRetryWatcherWithContext(ctx, rv, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return k.watch(ctx, namespace, o)
		},
	})
	if err != nil {
		return nil, err
	}
	w := &boundWatch{kind: k.name(), want: want, watcher: watcher, done: make(chan struct{}), at: make(map[string]time.Time, want)}
	w.lastSeen.Store(time.Now().UnixNano())
	go func() {
		defer close(w.done)
		for e := range watcher.ResultChan() {
			if e.Type == watch.Error {
				w.err = fmt.Errorf("watching %s: %v", k.name(), e.Object)
				return
			}
			if e.Type == watch.Deleted || e.Type == watch.Bookmark {
				continue
			}
			name, bound := k.boundName(e.Object)
			if _, seen := w.at[name]; bound && !seen {
				now := time.Now()
				w.at[name] = now
				w.seen.Add(1)
				w.lastSeen.Store(now.UnixNano())
				if len(w.at) == w.want {
					return
				}
			}
		}
		w.err = errors.New("the watch ended")
	}()
	return w, nil
}

// wait waits until every object is seen bound and returns when the last one was. It gives up
// after timeout, or when no object was seen bound for stall.
func (w *boundWatch) wait(timeout, stall time.Duration) (time.Time, error) {
	defer w.watcher.Stop()
	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReport := time.Now()
	for waiting := true; waiting; {
		select {
		case <-w.done:
			waiting = false
		case <-deadline:
			return time.Time{}, w.giveUp(fmt.Sprintf("within %v", timeout))
		case now := <-tick.C:
			if idle := now.Sub(time.Unix(0, w.lastSeen.Load())); idle > stall {
				return time.Time{}, w.giveUp(fmt.Sprintf("and none for %v", idle.Round(time.Second)))
			}
			if now.Sub(lastReport) >= 15*time.Second {
				fmt.Fprintf(os.Stderr, "bench-scheduler: %s: %d of %d bound\n", w.kind, w.seen.Load(), w.want)
				lastReport = now
			}
		}
	}
	if w.err != nil && len(w.at) < w.want {
		return time.Time{}, fmt.Errorf("%d of %d bound: %w", len(w.at), w.want, w.err)
	}
	var last time.Time
	for _, at := range w.at {
		if at.After(last) {
			last = at
		}
	}
	return last, nil
}

// giveUp stops the watch and says how far it got.
func (w *boundWatch) giveUp(why string) error {
	w.watcher.Stop()
	<-w.done
	return fmt.Errorf("only %d of %d bound %s", len(w.at), w.want, why)
}

// manager is a running controller manager with every controller.
type manager struct {
	started time.Time
	// synced is how long after the start its cache had synced.
	synced time.Duration
	cancel context.CancelFunc
	done   chan error
}

func startManager(ctx context.Context, config *rest.Config, workers int) (*manager, error) {
	off := false
	o := controllermanager.NewOptions()
	o.MetricsAddress, o.HealthAddress, o.LeaderElect = "0", "0", &off
	o.SchedulerWorkers = workers
	// Pools heartbeat once, at create; the run must not outlast the grace.
	o.HeartbeatGrace = 24 * time.Hour
	// One manager runs per kind, one after the other, in this process.
	o.SeveralManagersInProcess = true
	ctx, cancel := context.WithCancel(klog.NewContext(ctx, klog.Background()))
	mgr, err := controllermanager.New(ctx, config, nil, o)
	if err != nil {
		cancel()
		return nil, err
	}
	m := &manager{cancel: cancel, done: make(chan error, 1), started: time.Now()}
	go func() { m.done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		m.stop()
		return nil, errors.New("the manager's cache did not sync")
	}
	m.synced = time.Since(m.started)
	return m, nil
}

// stop stops the manager and waits until it has.
func (m *manager) stop() {
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-scheduler: manager:", err)
		}
	case <-time.After(time.Minute):
		fmt.Fprintln(os.Stderr, "bench-scheduler: the manager did not stop within a minute")
	}
}

// latencies returns the create-to-bound times of the objects, sorted.
func latencies(sent, bound map[string]time.Time) []time.Duration {
	out := make([]time.Duration, 0, len(bound))
	for name, at := range bound {
		out = append(out, at.Sub(sent[name]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)].Round(time.Millisecond)
}
