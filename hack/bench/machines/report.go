package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printWatchers prints every configuration of every round, then the medians over the rounds
// and the ratio cost(most pools)/cost(fewest pools).
func printWatchers(out io.Writer, counts []int, outcomes []watchOutcome) {
	o := watcherOptions
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "\n== bench-machines, watchers (%s, %d CPUs, load average at end %s)\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), strings.TrimSpace(string(load)))
	fmt.Fprintf(out, "Each configuration writes %d Machines from %d clients: create, bind (binding subresource), %d status updates = %d events.\n",
		o.machines, o.writers, o.statusUpdates, o.machines*writesPerMachine(o.statusUpdates))
	fmt.Fprintf(out, "Machines spread evenly over the pools; one simulated poollet per pool watches its pool's Machines in every namespace, each on its own connection.\n")
	fmt.Fprintf(out, "CPU is ms per event written, from the first write to the last event received; the ceiling is the same writes with no watcher, in the same round.\n\n")

	ceilings := map[int]float64{}
	for _, r := range outcomes {
		if r.config.sel == "" {
			ceilings[r.round] = r.msPerEvent(r.cpu.APIServer)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\twatchers\tevents\tevents/s\tapiserver ms/event\tx ceiling\tetcd ms/event\tbench ms/event\tdelivered/expected\tmissing\textra\tshort watchers\tended\tterminated\twrites s\tlast event +s\t")
	for _, r := range outcomes {
		api := r.msPerEvent(r.cpu.APIServer)
		d := r.delivery
		delivered := "-"
		if d.watchers > 0 {
			delivered = fmt.Sprintf("%d/%d", d.delivered, d.expected)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%.3f\t%.2f\t%.3f\t%.3f\t%s\t%d\t%d\t%d\t%d\t%.0f\t%.1f\t%.1f\t\n",
			r.round, r.config, r.events, float64(r.events)/r.writes.Elapsed.Seconds(), api, api/ceilings[r.round],
			r.msPerEvent(r.cpu.Etcd), r.msPerEvent(r.cpu.Client), delivered, d.missing, d.extra, d.short, d.ended,
			r.terminated, r.writes.Elapsed.Seconds(), r.lag.Seconds())
	}
	tw.Flush()

	rounds := len(ceilings)
	ceiling := median(slices.Collect(maps.Values(ceilings)))
	fmt.Fprintf(out, "\nApiserver CPU per event, median of %d rounds; ceiling (no watcher) %.3f ms\n", rounds, ceiling)
	for _, sel := range []selector{byField, byLabel} {
		costs := make([]float64, len(counts))
		var ended, missing int64
		var terminated float64
		found := false
		for i, n := range counts {
			var per []float64
			for _, r := range outcomes {
				if r.config.sel == sel && r.config.pools == n {
					per = append(per, r.msPerEvent(r.cpu.APIServer))
					ended += int64(r.delivery.ended)
					missing += r.delivery.missing
					terminated += r.terminated
				}
			}
			if len(per) > 0 {
				costs[i], found = median(per), true
			}
		}
		if !found {
			continue
		}
		name := "field " + poolField + " (indexed)"
		if sel == byLabel {
			name = "label " + poolLabel + " (not indexed)"
		}
		var parts []string
		for i, n := range counts {
			parts = append(parts, fmt.Sprintf("%d pools %.3f ms (%.2fx ceiling)", n, costs[i], costs[i]/ceiling))
		}
		fmt.Fprintf(out, "  %s: %s; cost(%d)/cost(%d) = %.2f\n", name, strings.Join(parts, ", "),
			counts[len(counts)-1], counts[0], costs[len(costs)-1]/costs[0])
		fmt.Fprintf(out, "    over all its rounds: watches ended by the server %d, apiserver_terminated_watchers_total +%.0f, events missing %d\n", ended, terminated, missing)
	}
}

// median returns the median of values (the mean of the middle two for an even count).
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
