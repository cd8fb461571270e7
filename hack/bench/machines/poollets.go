package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
	"github.com/ferrite-dev/ferrite/hack/bench/watchstream"
)

// selector is how a simulated machinepoollet selects the Machines of its pool.
type selector string

const (
	// byField is the machinepoollet's own watch (poollet/machine): the field selector
	// spec.machinePoolRef.name=<pool>, which the apiserver's watch cache indexes.
	byField selector = "field"
	// byLabel selects the same Machines by their poolLabel, which the watch cache cannot
	// index: every event is offered to every watcher, which filters it.
	byLabel selector = "label"
)

// poolField is the machinepoollet's field selector path.
const poolField = "spec.machinePoolRef.name"

// watcher is one watch: a simulated machinepoollet's (pool set) or an unfiltered one, such as
// the controller manager's (pool empty).
type watcher struct {
	pool     string
	expected int64
	// got counts the events of its selection; foreign the events it should not have had.
	got, foreign atomic.Int64
	// ended is set when the watch ended before the benchmark stopped it.
	ended atomic.Bool
	http  *http.Client
}

// watcherSet is the watchers of one configuration, each on its own connection, as separate
// processes would have.
type watcherSet struct {
	namespace string
	sel       selector
	watchers  []*watcher
	cancel    context.CancelFunc
	done      sync.WaitGroup
	// received counts the events of every watcher's selection; lastEvent (unix nanoseconds)
	// is when the last one arrived.
	received, lastEvent atomic.Int64
}

// startWatchers opens a watch from resourceVersion on for each of pools simulated
// machinepoollets (pool i watches the Machines of poolName(i) with sel) and for unfiltered
// watchers of every Machine, and starts counting. Machines are written to namespace: machine
// j belongs to pool j % pools and has perMachine events in a pool watcher's selection
// (bind and status updates; the create too with byLabel), writesPerMachine in an unfiltered
// watcher's.
func startWatchers(ctx context.Context, e *env, sel selector, namespace, resourceVersion string, pools, unfiltered, machines, statusUpdates int) (*watcherSet, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &watcherSet{namespace: namespace, sel: sel, cancel: cancel}
	perMachine := int64(1 + statusUpdates)
	if sel == byLabel {
		perMachine++
	}
	for i := range pools {
		count := int64(machines / pools)
		if i < machines%pools {
			count++
		}
		s.watchers = append(s.watchers, &watcher{pool: poolName(i), expected: count * perMachine})
	}
	for range unfiltered {
		s.watchers = append(s.watchers, &watcher{expected: int64(machines * writesPerMachine(statusUpdates))})
	}
	streams := make([]*watchstream.Stream, len(s.watchers))
	r := load.Run(ctx, load.CPUMeter{}, len(s.watchers), 32, func(ctx context.Context, _, i int) error {
		var err error
		streams[i], err = s.open(ctx, e.config, s.watchers[i], resourceVersion)
		return err
	})
	if r.Errors > 0 {
		s.stop()
		return nil, fmt.Errorf("%d of %d watches did not open: %w", r.Errors, len(s.watchers), r.FirstErr)
	}
	for i, w := range s.watchers {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.count(ctx, w, streams[i])
		}()
	}
	return s, nil
}

// open opens w's watch on a connection of its own, trying three times.
func (s *watcherSet) open(ctx context.Context, config *rest.Config, w *watcher, resourceVersion string) (*watchstream.Stream, error) {
	own := load.OwnConnection(config)
	var err error
	if w.http, err = rest.HTTPClientFor(own); err != nil {
		return nil, err
	}
	client, err := versioned.NewForConfigAndClient(own, w.http)
	if err != nil {
		return nil, err
	}
	o := watchstream.Options{ResourceVersion: resourceVersion}
	switch {
	case w.pool == "":
	case s.sel == byField:
		o.FieldSelector = poolField + "=" + w.pool
	default:
		o.LabelSelector = poolLabel + "=" + w.pool
	}
	for attempt := 1; ; attempt++ {
		stream, err := watchstream.Open(ctx, client.ComputeV1alpha1().RESTClient(), "machines", o)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			return stream, err
		}
		time.Sleep(time.Second)
	}
}

// count reads w's events until the watch ends. A simulated machinepoollet decodes each event
// to check that it is a Machine of its pool in this configuration's namespace; an unfiltered
// watcher only counts.
func (s *watcherSet) count(ctx context.Context, w *watcher, stream *watchstream.Stream) {
	defer stream.Close()
	for {
		event, err := stream.Next()
		if err != nil {
			if ctx.Err() == nil {
				w.ended.Store(true)
			}
			return
		}
		if w.pool != "" && !s.inPool(event, w.pool) {
			w.foreign.Add(1)
			continue
		}
		w.got.Add(1)
		s.received.Add(1)
		s.lastEvent.Store(time.Now().UnixNano())
	}
}

// inPool tells whether an event's object is a Machine of the namespace bound to pool (with
// byLabel: labelled with pool, since the create precedes the bind).
func (s *watcherSet) inPool(event *metav1.WatchEvent, pool string) bool {
	obj, err := watchstream.Decode(event)
	if err != nil {
		return false
	}
	m, ok := obj.(*computev1alpha1.Machine)
	if !ok || m.Namespace != s.namespace {
		return false
	}
	if s.sel == byLabel {
		return m.Labels[poolLabel] == pool
	}
	return m.Spec.MachinePoolRef != nil && m.Spec.MachinePoolRef.Name == pool
}

// wait waits until every watcher has had its expected events, or until none arrived for
// settle after since (the end of the writes). It returns when the last event arrived.
func (s *watcherSet) wait(since time.Time, settle time.Duration) time.Time {
	var want int64
	for _, w := range s.watchers {
		want += w.expected
	}
	for {
		last := time.Unix(0, s.lastEvent.Load())
		if s.received.Load() >= want {
			return last
		}
		if time.Since(maxTime(last, since)) > settle {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// delivery is what the watchers of a configuration received.
type delivery struct {
	watchers int
	// expected and delivered are events summed over the watchers (delivered counts at most
	// expected per watcher); missing is expected - delivered; extra counts events beyond a
	// watcher's expected ones and events outside its selection.
	expected, delivered, missing, extra int64
	// short is the number of watchers that missed events; ended the number of watches the
	// server ended while the benchmark still read them.
	short, ended int
}

// stop ends every watch and returns what the watchers received.
func (s *watcherSet) stop() delivery {
	s.cancel()
	s.done.Wait()
	d := delivery{watchers: len(s.watchers)}
	for _, w := range s.watchers {
		got := w.got.Load()
		d.expected += w.expected
		d.delivered += min(got, w.expected)
		d.extra += max(0, got-w.expected) + w.foreign.Load()
		if got < w.expected {
			d.short++
			d.missing += w.expected - got
		}
		if w.ended.Load() {
			d.ended++
		}
		if w.http != nil {
			w.http.CloseIdleConnections()
		}
	}
	return d
}
