package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ferrite-dev/ferrite/hack/bench/load"
)

func TestPrintWatchers(t *testing.T) {
	watcherOptions.machines, watcherOptions.writers, watcherOptions.statusUpdates = 1000, 16, 2
	outcome := func(round int, sel selector, pools int, apiserverSeconds float64, terminated float64) watchOutcome {
		o := watchOutcome{round: round, config: watchConfig{sel: sel, pools: pools, unfiltered: 1}, events: 4000,
			writes: load.Result{Ops: 1000, Elapsed: 4 * time.Second}, cpu: load.CPUUsage{APIServer: apiserverSeconds},
			terminated: terminated}
		if sel != "" {
			o.delivery = delivery{watchers: pools + 1, expected: 7000, delivered: 7000}
		}
		return o
	}
	var outcomes []watchOutcome
	// Round 1: ceiling 1 ms/event; field 1.2 -> 1.2 ms (1.00); label 1.2 -> 2.4 ms (2.00).
	// Round 2: ceiling 2 ms/event; field 2.0 -> 2.4 ms (1.20); label 2.0 -> 3.0 ms (1.50).
	for _, r := range []struct {
		round                                   int
		ceiling, field10, field1000, l10, l1000 float64
	}{{1, 4, 4.8, 4.8, 4.8, 9.6}, {2, 8, 8, 9.6, 8, 12}} {
		outcomes = append(outcomes,
			outcome(r.round, "", 10, r.ceiling, 0),
			outcome(r.round, byField, 10, r.field10, 0), outcome(r.round, byField, 1000, r.field1000, 0),
			outcome(r.round, byLabel, 10, r.l10, 0), outcome(r.round, byLabel, 1000, r.l1000, 300))
	}
	var out bytes.Buffer
	printWatchers(&out, []int{10, 1000}, outcomes)
	for _, want := range []string{
		"ceiling (no watcher) 1.500 ms",
		"cost(1000)/cost(10): 1.10 (rounds: 1.00, 1.20)",
		"cost(1000)/cost(10): 1.75 (rounds: 2.00, 1.50)",
		"10 pools 1.600 ms (1.10x ceiling), 1000 pools 1.800 ms (1.20x ceiling)",
		"apiserver_terminated_watchers_total +600, events missing 0",
		"7000/7000",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
