package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/api/cluster"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
	"github.com/ferrite-dev/ferrite/hack/bench/watchstream"
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
// ("" for a consistent read, "0" for the watch cache) and returns the sorted durations, the
// item count of the last list and the apiserver's CPU seconds per list. With raw, the
// response (of media type accept) is read but not decoded, which leaves out the client's
// share of the time.
func listTimes(ctx context.Context, meter load.CPUMeter, client versioned.Interface, namespace, resourceVersion string, runs int, raw bool, accept string) ([]time.Duration, int, float64, error) {
	machines := client.ComputeV1alpha1().Machines(namespace)
	var times []time.Duration
	items := 0
	before := meter.Sample()
	for range runs {
		start := time.Now()
		if raw {
			if _, err := client.ComputeV1alpha1().RESTClient().Get().Namespace(namespace).Resource("machines").
				Param("resourceVersion", resourceVersion).SetHeader("Accept", accept).DoRaw(ctx); err != nil {
				return nil, 0, 0, err
			}
			times = append(times, time.Since(start))
			items = -1
			continue
		}
		list, err := machines.List(ctx, metav1.ListOptions{ResourceVersion: resourceVersion})
		if err != nil {
			return nil, 0, 0, err
		}
		times = append(times, time.Since(start))
		items = len(list.Items)
	}
	cpu := meter.Sample().Since(before).APIServer / float64(runs)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times, items, cpu, nil
}

// watchResult is what the watch phase measured.
type watchResult struct {
	watchers  int
	creates   load.Result   // the creates while the watchers watched
	allEvents time.Duration // from the first create until every watcher had every event
	missing   int           // events not received by the deadline, summed over the watchers
	restarts  int           // watches the server ended early and the watcher resumed
}

// watchWhileCreating starts watchers on the Machines of namespace, creates n Machines there
// with workers clients, and waits until every watcher has seen n ADDED events.
func watchWhileCreating(ctx context.Context, meter load.CPUMeter, creators []versioned.Interface, config *rest.Config, namespace string, watchers, n, workers int) (watchResult, error) {
	out := watchResult{watchers: watchers}
	list, err := creators[0].ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return out, err
	}
	// Watchers get until two minutes after the last create to receive every event.
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	// Each watcher has its own connection, as watchers in separate processes would.
	streams := make([]*watchstream.Stream, watchers)
	clients := make([]versioned.Interface, watchers)
	for i := range streams {
		if clients[i], err = versioned.NewForConfig(load.OwnConnection(config)); err != nil {
			return out, err
		}
		if streams[i], err = openStream(watchCtx, clients[i], namespace, list.ResourceVersion); err != nil {
			return out, fmt.Errorf("starting a watch: %w", err)
		}
	}
	var mu sync.Mutex
	start := time.Now()
	var last time.Time
	var wg sync.WaitGroup
	for i, stream := range streams {
		wg.Add(1)
		go func(watchClient versioned.Interface, stream *watchstream.Stream) {
			defer wg.Done()
			seen, rv := 0, list.ResourceVersion
			var lastAdded *metav1.WatchEvent
			for seen < n && watchCtx.Err() == nil {
				event, err := stream.Next()
				if err != nil {
					// The server ends a watch that falls behind; like an informer, resume
					// from the last event seen.
					stream.Close()
					if lastAdded != nil {
						if rv, err = watchstream.ResourceVersion(lastAdded); err != nil {
							break
						}
					}
					if stream, err = openStream(watchCtx, watchClient, namespace, rv); err != nil {
						break
					}
					mu.Lock()
					out.restarts++
					mu.Unlock()
					continue
				}
				if watch.EventType(event.Type) == watch.Added {
					seen++
					lastAdded = event
				}
			}
			stream.Close()
			mu.Lock()
			defer mu.Unlock()
			if seen < n {
				out.missing += n - seen
				return
			}
			if now := time.Now(); now.After(last) {
				last = now
			}
		}(clients[i], stream)
	}
	out.creates = createMachines(ctx, meter, creators, namespace, n, workers)
	deadline := time.AfterFunc(2*time.Minute, stopWatching)
	wg.Wait()
	deadline.Stop()
	if out.missing == 0 {
		out.allEvents = last.Sub(start)
	}
	return out, nil
}

// profileLists lists namespace from the watch cache over and over while a CPU profile of the
// apiserver is taken.
func profileLists(ctx context.Context, apiserver *cluster.APIServer, client versioned.Interface, namespace string, seconds int, path string) error {
	done := make(chan error, 1)
	go func() { done <- apiserver.CPUProfile(ctx, seconds, path) }()
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if _, err := client.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{ResourceVersion: "0"}); err != nil {
			return err
		}
	}
}

// countMachines returns how many Machines etcd holds.
func countMachines(ctx context.Context, etcd *clientv3.Client) (int64, error) {
	resp, err := etcd.Get(ctx, machinesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}

// openStream watches the Machines of namespace from resourceVersion on.
func openStream(ctx context.Context, client versioned.Interface, namespace, resourceVersion string) (*watchstream.Stream, error) {
	return watchstream.Open(ctx, client.ComputeV1alpha1().RESTClient(), "machines", watchstream.Options{Namespace: namespace, ResourceVersion: resourceVersion})
}
