package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// watcherOptions are the flags of the watchers phase.
var watcherOptions struct {
	pools                                        string
	unfiltered, machines, statusUpdates, writers int
	runs, warmup                                 int
	compare                                      bool
	settle                                       time.Duration
	profileDir                                   string
	profileSeconds                               int
}

func watcherFlags() {
	o := &watcherOptions
	flag.StringVar(&o.pools, "watcher-pools", "10,1000", "watchers phase: numbers of pools, each with one simulated machinepoollet watching its Machines")
	flag.IntVar(&o.unfiltered, "watcher-unfiltered", 1, "watchers phase: watchers of every Machine besides the poollets' (the controller manager's)")
	flag.IntVar(&o.machines, "watcher-machines", 1500, "watchers phase: Machines written per configuration")
	flag.IntVar(&o.statusUpdates, "watcher-status-updates", 2, "watchers phase: status writes per Machine after its create and bind")
	flag.IntVar(&o.writers, "watcher-writers", 16, "watchers phase: concurrent writers, each on its own connection")
	flag.IntVar(&o.runs, "watcher-runs", 3, "watchers phase: rounds of every configuration (ratios are medians of per-round ratios)")
	flag.IntVar(&o.warmup, "watcher-warmup", 500, "watchers phase: Machines written, untimed, before the first round")
	flag.BoolVar(&o.compare, "watcher-compare-label", true, "watchers phase: also run the poollets on a label selector the watch cache does not index")
	flag.StringVar(&o.profileDir, "watcher-profile-dir", "", "watchers phase: write an apiserver CPU profile of each configuration's writes into this directory")
	flag.IntVar(&o.profileSeconds, "watcher-profile-seconds", 10, "watchers phase: length of the CPU profiles, from the first write")
	flag.DurationVar(&o.settle, "watcher-settle", 20*time.Second, "watchers phase: after the writes, give up waiting for events when none arrived for this long")
}

// watchConfig is one configuration of the watchers phase.
type watchConfig struct {
	// sel is how the poollets select their pool; "" is the ceiling: no watcher at all, the
	// Machines spread over pools pools.
	sel        selector
	pools      int
	unfiltered int
}

func (c watchConfig) String() string {
	if c.sel == "" {
		return "none (ceiling)"
	}
	what := "field " + poolField
	if c.sel == byLabel {
		what = "label " + poolLabel
	}
	return fmt.Sprintf("%d poollets (%s) + %d all", c.pools, what, c.unfiltered)
}

// watchOutcome is what one configuration measured.
type watchOutcome struct {
	round  int
	config watchConfig
	events int
	// writes are the Machines' writes (an operation is one Machine's create, bind and status
	// updates); cpu is what each process used from the first write to the last event.
	writes load.Result
	cpu    load.CPUUsage
	// lag is from the last write to the last event received.
	lag        time.Duration
	delivery   delivery
	terminated float64
}

// msPerEvent is CPU milliseconds per event written.
func (o watchOutcome) msPerEvent(seconds float64) float64 { return seconds * 1000 / float64(o.events) }

func runWatchers(ctx context.Context, e *env) error {
	o := watcherOptions
	counts, err := ints(o.pools)
	if err != nil {
		return fmt.Errorf("-watcher-pools: %w", err)
	}
	writers, err := writerClients(e.config, o.writers)
	if err != nil {
		return err
	}
	progress("watchers: %d MachinePools", slices.Max(counts))
	if err := createPools(ctx, e, slices.Max(counts)); err != nil {
		return err
	}
	configs := []watchConfig{{pools: counts[0]}}
	for _, sel := range []selector{byField, byLabel} {
		if sel == byLabel && !o.compare {
			continue
		}
		for _, n := range counts {
			configs = append(configs, watchConfig{sel: sel, pools: n, unfiltered: o.unfiltered})
		}
	}
	if o.warmup > 0 {
		progress("watchers: warm-up, %d Machines", o.warmup)
		if _, err := measureWatchers(ctx, e, writers, 0, watchConfig{pools: counts[0]}, o.warmup); err != nil {
			return err
		}
	}
	var outcomes []watchOutcome
	for round := 1; round <= o.runs; round++ {
		for _, c := range configs {
			progress("watchers: round %d, %s: %d Machines, %d events", round, c, o.machines, o.machines*writesPerMachine(o.statusUpdates))
			out, err := measureWatchers(ctx, e, writers, round, c, o.machines)
			if err != nil {
				return err
			}
			progress("watchers:   apiserver %.3f ms/event; %d of %d events delivered, %d watches ended, %.0f terminated",
				out.msPerEvent(out.cpu.APIServer), out.delivery.delivered, out.delivery.expected, out.delivery.ended, out.terminated)
			outcomes = append(outcomes, out)
		}
	}
	printWatchers(os.Stdout, counts, outcomes)
	return nil
}

// writerClients returns the clients of the writers, each on its own connection.
func writerClients(config *rest.Config, n int) ([]versioned.Interface, error) {
	var out []versioned.Interface
	for range n {
		c, err := versioned.NewForConfig(load.OwnConnection(config))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// measureWatchers runs one configuration in a namespace of its own: it opens the watches,
// writes the Machines, waits for their events, closes the watches and deletes the Machines
// (untimed).
func measureWatchers(ctx context.Context, e *env, writers []versioned.Interface, round int, c watchConfig, machines int) (watchOutcome, error) {
	o := watcherOptions
	out := watchOutcome{round: round, config: c, events: machines * writesPerMachine(o.statusUpdates)}
	namespace := fmt.Sprintf("round%d-%s-%d", round, c.sel, c.pools)
	if c.sel == "" {
		namespace = fmt.Sprintf("round%d-ceiling", round)
	}
	var watchers *watcherSet
	if c.sel != "" {
		list, err := e.client.ComputeV1alpha1().Machines(metav1.NamespaceAll).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return out, err
		}
		if watchers, err = startWatchers(ctx, e, c.sel, namespace, list.ResourceVersion, c.pools, c.unfiltered, machines, o.statusUpdates); err != nil {
			return out, err
		}
	}
	terminated, err := terminatedWatchers(ctx, e)
	if err != nil {
		return out, err
	}
	profiled := make(chan error, 1)
	if o.profileDir != "" && round > 0 {
		path := filepath.Join(o.profileDir, "apiserver-"+namespace+".pprof")
		go func() { profiled <- e.apiserver.CPUProfile(ctx, o.profileSeconds, path) }()
	}
	before := e.meter.Sample()
	out.writes = writeMachines(ctx, writers, namespace, machines, c.pools, o.statusUpdates, o.writers)
	writesDone := time.Now()
	if watchers != nil {
		if last := watchers.wait(writesDone, o.settle); last.After(writesDone) {
			out.lag = last.Sub(writesDone)
		}
	}
	out.cpu = e.meter.Sample().Since(before)
	after, err := terminatedWatchers(ctx, e)
	if err != nil {
		return out, err
	}
	out.terminated = after - terminated
	if watchers != nil {
		out.delivery = watchers.stop()
	}
	if o.profileDir != "" && round > 0 {
		if err := <-profiled; err != nil {
			progress("watchers: profile of %s: %v", namespace, err)
		}
	}
	if out.writes.Errors > 0 {
		return out, fmt.Errorf("%d of %d Machines failed: %w", out.writes.Errors, machines, out.writes.FirstErr)
	}
	if err := deleteMachines(ctx, e, namespace); err != nil {
		return out, fmt.Errorf("deleting the Machines of %s: %w", namespace, err)
	}
	// Let the watch cache take in the deletes before the next configuration measures.
	time.Sleep(time.Second)
	return out, nil
}
