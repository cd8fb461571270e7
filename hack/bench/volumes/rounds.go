package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// round records, per object name, when its create was sent and when it was first seen ready,
// from one watch of the namespace.
type round struct {
	mu      sync.Mutex
	created map[string]time.Time
	ready   map[string]time.Time
	start   time.Time
}

func newRound() *round {
	return &round{created: map[string]time.Time{}, ready: map[string]time.Time{}, start: time.Now()}
}

// sent notes that name's create is about to be sent.
func (r *round) sent(name string) {
	r.mu.Lock()
	r.created[name] = time.Now()
	r.mu.Unlock()
}

// follow reads w until every name of want is ready (isReady) or ctx ends.
func (r *round) follow(ctx context.Context, w watch.Interface, want int, isReady func(obj any) (string, bool)) error {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			defer r.mu.Unlock()
			return fmt.Errorf("%d of %d ready when the round timed out", len(r.ready), want)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("the watch ended")
			}
			if ev.Type == watch.Error {
				return fmt.Errorf("watch error: %v", ev.Object)
			}
			name, ready := isReady(ev.Object)
			if !ready {
				continue
			}
			r.mu.Lock()
			if _, seen := r.ready[name]; !seen {
				r.ready[name] = time.Now()
			}
			done := len(r.ready) >= want
			r.mu.Unlock()
			if done {
				return nil
			}
		}
	}
}

// result is a round's figures.
type result struct {
	n                  int
	elapsed            time.Duration // first create sent to last ready
	p50, p99, maxDelay time.Duration // per object: create sent to ready
}

func (r *round) result() result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var delays []time.Duration
	var last time.Time
	for name, ready := range r.ready {
		delays = append(delays, ready.Sub(r.created[name]))
		if ready.After(last) {
			last = ready
		}
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	res := result{n: len(delays), elapsed: last.Sub(r.start)}
	if len(delays) > 0 {
		res.p50, res.p99, res.maxDelay = percentile(delays, 50), percentile(delays, 99), delays[len(delays)-1]
	}
	return res
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// perSecondOf is how many objects became ready per second of the round.
func (r result) perSecondOf() string {
	if r.n == 0 || r.elapsed <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f/s", float64(r.n)/r.elapsed.Seconds())
}

// watchNow opens a watch of what list lists, from the list's resource version on.
func watchNow(ctx context.Context, list func(context.Context, metav1.ListOptions) (metav1.ListInterface, error),
	watchFrom func(context.Context, metav1.ListOptions) (watch.Interface, error)) (watch.Interface, error) {
	current, err := list(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return watchFrom(ctx, metav1.ListOptions{ResourceVersion: current.GetResourceVersion()})
}

// runRound creates n objects with workers creates at once (create notes each name with
// r.sent before it sends it) and follows w until isReady says each is ready.
func runRound(ctx context.Context, w watch.Interface, n, workers int, isReady func(obj any) (string, bool),
	create func(ctx context.Context, r *round, i int) error) (result, error) {
	r := newRound()
	followed := make(chan error, 1)
	go func() { followed <- r.follow(ctx, w, n, isReady) }()
	created := load.Run(ctx, load.CPUMeter{}, n, workers, func(ctx context.Context, _, i int) error { return create(ctx, r, i) })
	if created.Errors > 0 {
		w.Stop()
		<-followed
		return result{}, fmt.Errorf("%d creates failed, the first: %v", created.Errors, created.FirstErr)
	}
	err := <-followed
	return r.result(), err
}
