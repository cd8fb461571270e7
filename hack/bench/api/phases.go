package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// machinesPrefix is where the apiserver stores Machines in etcd.
const machinesPrefix = "/registry/ferrite.dev/compute.ferrite.dev/machines/"

// storedSample returns the stored bytes of one Machine of namespace, as etcd holds them.
func storedSample(ctx context.Context, etcd *clientv3.Client, namespace string) ([]byte, string, error) {
	resp, err := etcd.Get(ctx, machinesPrefix+namespace+"/", clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil {
		return nil, "", err
	}
	if len(resp.Kvs) == 0 {
		return nil, "", fmt.Errorf("no Machine stored in %s", namespace)
	}
	return resp.Kvs[0].Value, string(resp.Kvs[0].Key), nil
}

// listTimes lists every Machine of namespace runs times with the given resourceVersion
// ("" for a consistent read, "0" for the watch cache) and returns the sorted durations and
// the item count of the last list.
func listTimes(ctx context.Context, client versioned.Interface, namespace, resourceVersion string, runs int) ([]time.Duration, int, error) {
	machines := client.ComputeV1alpha1().Machines(namespace)
	var times []time.Duration
	items := 0
	for range runs {
		start := time.Now()
		list, err := machines.List(ctx, metav1.ListOptions{ResourceVersion: resourceVersion})
		if err != nil {
			return nil, 0, err
		}
		times = append(times, time.Since(start))
		items = len(list.Items)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times, items, nil
}

// watchResult is what the watch phase measured.
type watchResult struct {
	watchers  int
	creates   result        // the creates while the watchers watched
	allEvents time.Duration // from the first create until every watcher had every event
	missing   int           // events not received by the deadline, summed over the watchers
	restarts  int           // watches the server ended early and the watcher resumed
}

// watchWhileCreating starts watchers on the Machines of namespace, creates n Machines there
// with workers clients, and waits until every watcher has seen n ADDED events.
func watchWhileCreating(ctx context.Context, meter cpuMeter, client, watchClient versioned.Interface, namespace string, watchers, n, workers int) (watchResult, error) {
	out := watchResult{watchers: watchers}
	machines := watchClient.ComputeV1alpha1().Machines(namespace)
	list, err := machines.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return out, err
	}
	// Watchers get until two minutes after the last create to receive every event.
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	var ws []watch.Interface
	defer func() {
		for _, w := range ws {
			w.Stop()
		}
	}()
	for range watchers {
		w, err := machines.Watch(watchCtx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			return out, fmt.Errorf("starting a watch: %w", err)
		}
		ws = append(ws, w)
	}
	var mu sync.Mutex
	start := time.Now()
	var last time.Time
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func(i int, w watch.Interface) {
			defer wg.Done()
			seen, rv := 0, list.ResourceVersion
			for seen < n && watchCtx.Err() == nil {
				ev, ok := <-w.ResultChan()
				if !ok {
					// The server ends a watch that falls behind; like an informer, resume
					// from the last event seen.
					next, err := machines.Watch(watchCtx, metav1.ListOptions{ResourceVersion: rv})
					if err != nil {
						break
					}
					mu.Lock()
					out.restarts++
					ws[i] = next
					mu.Unlock()
					w = next
					continue
				}
				if ev.Type != watch.Added {
					continue
				}
				seen++
				if m, ok := ev.Object.(metav1.Object); ok {
					rv = m.GetResourceVersion()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if seen < n {
				out.missing += n - seen
				return
			}
			if now := time.Now(); now.After(last) {
				last = now
			}
		}(i, w)
	}
	out.creates = createMachines(ctx, meter, client, namespace, n, workers)
	deadline := time.AfterFunc(2*time.Minute, stopWatching)
	wg.Wait()
	deadline.Stop()
	if out.missing == 0 {
		out.allEvents = last.Sub(start)
	}
	return out, nil
}

// fetchProfile reads a CPU profile of the apiserver over seconds and writes it to path.
func fetchProfile(ctx context.Context, client versioned.Interface, seconds int, path string) error {
	data, err := client.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").
		Param("seconds", fmt.Sprint(seconds)).Timeout(time.Duration(seconds+60) * time.Second).DoRaw(ctx)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// countMachines returns how many Machines etcd holds.
func countMachines(ctx context.Context, etcd *clientv3.Client) (int64, error) {
	resp, err := etcd.Get(ctx, machinesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}
