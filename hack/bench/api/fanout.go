package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

// fanoutOptions are the flags of the fan-out phase.
var fanoutOptions struct {
	filtered         string
	unfiltered       int
	unfilteredJSON   bool
	events, rounds   int
	rate, deliveries float64
	writers          int
	settle           time.Duration
	profileDir       string
	profileSeconds   int
}

func fanoutFlags() {
	o := &fanoutOptions
	flag.StringVar(&o.filtered, "fanout-filtered", "10,100,1000", "fan-out phase: numbers of pool watchers (each on spec.machinePoolRef.name of its own pool); empty for none")
	flag.IntVar(&o.unfiltered, "fanout-unfiltered", 100, "fan-out phase: watchers of every Machine in a configuration of their own (0: none)")
	flag.BoolVar(&o.unfilteredJSON, "fanout-unfiltered-json", true, "fan-out phase: also run the unfiltered watchers with JSON on the wire")
	flag.IntVar(&o.events, "fanout-events", 3000, "fan-out phase: events (Machine writes) per configuration and round (0: no fan-out phase)")
	flag.IntVar(&o.rounds, "fanout-rounds", 1, "fan-out phase: rounds of every configuration (per-event figures are medians over the rounds)")
	flag.Float64Var(&o.rate, "fanout-rate", 1000, "fan-out phase: Machine writes per second at most")
	flag.Float64Var(&o.deliveries, "fanout-delivery-rate", 20000, "fan-out phase: events delivered per second at most (summed over the watchers), which slows the writes of the unfiltered configurations")
	flag.IntVar(&o.writers, "fanout-writers", 8, "fan-out phase: concurrent etcd writers")
	flag.DurationVar(&o.settle, "fanout-settle", 15*time.Second, "fan-out phase: after the writes, give up waiting for events when none arrived for this long")
	flag.StringVar(&o.profileDir, "fanout-profile-dir", "", "fan-out phase: write an apiserver CPU profile of each configuration's writes (first round) into this directory")
	flag.IntVar(&o.profileSeconds, "fanout-profile-seconds", 5, "fan-out phase: length of the CPU profiles")
}

// fanoutConfig is one configuration of the fan-out phase.
type fanoutConfig struct {
	// pools is the number of pool watchers, each on the field selector of its own pool;
	// unfiltered the number of watchers of every Machine. Both zero: the ceiling, no watcher.
	pools, unfiltered int
	mediaType         string
}

func (c fanoutConfig) String() string {
	switch {
	case c.pools > 0:
		return fmt.Sprintf("%d pool watchers", c.pools)
	case c.unfiltered > 0:
		return fmt.Sprintf("%d unfiltered", c.unfiltered)
	}
	return "no watcher"
}

// namespace is where the configuration's Machines live; rounds rewrite the same Machines.
func (c fanoutConfig) namespace() string {
	switch {
	case c.pools > 0:
		return "fanout-pools-" + strconv.Itoa(c.pools)
	case c.unfiltered > 0 && c.mediaType == runtime.ContentTypeJSON:
		return "fanout-all-json-" + strconv.Itoa(c.unfiltered)
	case c.unfiltered > 0:
		return "fanout-all-" + strconv.Itoa(c.unfiltered)
	}
	return "fanout-none"
}

// perEvent is how many watchers receive each event (at least 1).
func (c fanoutConfig) perEvent() int {
	if c.pools > 0 {
		return 1 + c.unfiltered
	}
	return max(1, c.unfiltered)
}

// fanoutOutcome is what one configuration measured in one round.
type fanoutOutcome struct {
	config   fanoutConfig
	round    int
	writes   load.Result
	cpu      load.CPUUsage // from the first write to the last event
	lag      time.Duration // from the last write to the last event
	delivery delivery
}

// fanoutConfigs lists the configurations in the order they run.
func fanoutConfigs() ([]fanoutConfig, error) {
	o := fanoutOptions
	configs := []fanoutConfig{{mediaType: runtime.ContentTypeProtobuf}}
	if o.filtered != "" {
		counts, err := ints(o.filtered)
		if err != nil {
			return nil, fmt.Errorf("-fanout-filtered: %w", err)
		}
		for _, n := range counts {
			configs = append(configs, fanoutConfig{pools: n, mediaType: runtime.ContentTypeProtobuf})
		}
	}
	if o.unfiltered > 0 {
		configs = append(configs, fanoutConfig{unfiltered: o.unfiltered, mediaType: runtime.ContentTypeProtobuf})
		if o.unfilteredJSON {
			configs = append(configs, fanoutConfig{unfiltered: o.unfiltered, mediaType: runtime.ContentTypeJSON})
		}
	}
	return configs, nil
}

// runFanout runs every configuration for every round.
func runFanout(ctx context.Context, e *env, sample []byte) ([]fanoutOutcome, error) {
	o := fanoutOptions
	configs, err := fanoutConfigs()
	if err != nil {
		return nil, err
	}
	writer, err := newStoredWriter(e.etcd.Client, sample)
	if err != nil {
		return nil, err
	}
	var outcomes []fanoutOutcome
	for round := 1; round <= o.rounds; round++ {
		for _, c := range configs {
			progress("fan-out: round %d, %s, %s: %d events", round, c, wireName(c.mediaType), o.events)
			out, err := measureFanout(ctx, e, writer, c, round)
			if err != nil {
				return nil, err
			}
			progress("fan-out:   apiserver %.1f us per event delivered; %d of %d delivered, %d watches ended",
				1e6*out.cpu.APIServer/float64(max(1, out.delivery.delivered)), out.delivery.delivered, out.delivery.expected, out.delivery.ended)
			outcomes = append(outcomes, out)
		}
	}
	return outcomes, nil
}

// measureFanout opens the configuration's watchers, writes its Machines into etcd and waits
// for their events.
func measureFanout(ctx context.Context, e *env, writer *storedWriter, c fanoutConfig, round int) (fanoutOutcome, error) {
	o := fanoutOptions
	out := fanoutOutcome{config: c, round: round}
	pools := max(1, c.pools)
	var specs []watchSpec
	for p := range c.pools {
		expected := o.events / pools
		if p < o.events%pools {
			expected++
		}
		specs = append(specs, watchSpec{fieldSelector: "spec.machinePoolRef.name=" + poolName(p), expected: int64(expected)})
	}
	for range c.unfiltered {
		specs = append(specs, watchSpec{expected: int64(o.events)})
	}
	rev, err := writer.revision(ctx)
	if err != nil {
		return out, err
	}
	var watchers *rawWatchers
	if len(specs) > 0 {
		if watchers, err = openRawWatchers(ctx, e.config, specs, c.mediaType, strconv.FormatInt(rev, 10)); err != nil {
			return out, err
		}
	}
	if watchers != nil {
		// One event for each watcher first, untimed: a watch's first event costs more than
		// the next (the server's encoders and buffers of the stream, its first HTTP/2 frames).
		warm := writer.write(ctx, load.CPUMeter{}, c.namespace()+"-warm", max(1, c.pools), round, o.writers, 0, func(i int) string { return poolName(i % pools) })
		if warm.Errors > 0 {
			return out, fmt.Errorf("warm-up writes: %w", warm.FirstErr)
		}
		watchers.wait(int64(len(specs)), time.Now(), o.settle)
		watchers.reset()
	}
	profiled := make(chan error, 1)
	profiling := o.profileDir != "" && round == 1
	if profiling {
		path := filepath.Join(o.profileDir, "apiserver-"+c.namespace()+".pprof")
		go func() { profiled <- e.apiserver.CPUProfile(ctx, o.profileSeconds, path) }()
	}
	rate := min(o.rate, o.deliveries/float64(c.perEvent()))
	before := e.meter.Sample()
	out.writes = writer.write(ctx, load.CPUMeter{}, c.namespace(), o.events, round, o.writers, rate, func(i int) string { return poolName(i % pools) })
	writesDone := time.Now()
	if watchers != nil {
		if last := watchers.wait(watchers.expected(), writesDone, o.settle); last.After(writesDone) {
			out.lag = last.Sub(writesDone)
		}
	} else if err := waitForCache(ctx, e, c.namespace(), rev+int64(o.events)); err != nil {
		return out, err
	}
	out.cpu = e.meter.Sample().Since(before)
	if watchers != nil {
		out.delivery = watchers.close()
	}
	if profiling {
		if err := <-profiled; err != nil {
			progress("fan-out: profile of %s: %v", c, err)
		}
	}
	if out.writes.Errors > 0 {
		return out, fmt.Errorf("%d of %d etcd writes failed: %w", out.writes.Errors, o.events, out.writes.FirstErr)
	}
	return out, nil
}

// waitForCache returns once the apiserver's watch cache has taken in etcd revision rev: a
// LIST at that resource version that matches nothing waits for the cache and costs little.
func waitForCache(ctx context.Context, e *env, namespace string, rev int64) error {
	_, err := e.proto.ComputeV1alpha1().Machines(namespace).List(ctx, metav1.ListOptions{
		ResourceVersion: strconv.FormatInt(rev, 10), ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		LabelSelector: "bench.ferrite.dev/none=none",
	})
	return err
}

// wireName names a media type in the report.
func wireName(mediaType string) string {
	if mediaType == runtime.ContentTypeJSON {
		return "JSON"
	}
	return "protobuf"
}

// poolName is the name of the i-th pool; the pool watchers' pools need not exist.
func poolName(i int) string { return fmt.Sprintf("pool-%04d", i) }
