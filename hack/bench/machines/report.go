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
// of the CPU per event and of the ratio cost(most pools)/cost(fewest pools).
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
	fmt.Fprintf(out, "\nApiserver CPU per event, medians over %d rounds (each ratio is taken within one round); ceiling (no watcher) %.3f ms\n", rounds, ceiling)
	for _, sel := range []selector{byField, byLabel} {
		// cost[round][i] is the cost with counts[i] pools in that round.
		cost := map[int][]float64{}
		var ended, missing int64
		var terminated float64
		for _, r := range outcomes {
			if r.config.sel != sel {
				continue
			}
			if cost[r.round] == nil {
				cost[r.round] = make([]float64, len(counts))
			}
			cost[r.round][slices.Index(counts, r.config.pools)] = r.msPerEvent(r.cpu.APIServer)
			ended += int64(r.delivery.ended)
			missing += r.delivery.missing
			terminated += r.terminated
		}
		if len(cost) == 0 {
			continue
		}
		name := "field " + poolField + " (the machinepoollet's selector)"
		if sel == byLabel {
			name = "label " + poolLabel + " (not indexable)"
		}
		var parts []string
		for i, n := range counts {
			var ms, overCeiling []float64
			for round, c := range cost {
				ms = append(ms, c[i])
				overCeiling = append(overCeiling, c[i]/ceilings[round])
			}
			parts = append(parts, fmt.Sprintf("%d pools %.3f ms (%.2fx ceiling)", n, median(ms), median(overCeiling)))
		}
		fmt.Fprintf(out, "  %s: %s\n", name, strings.Join(parts, ", "))
		var ratios []float64
		var each []string
		for round := 1; round <= len(ceilings); round++ {
			if c := cost[round]; c != nil && c[0] > 0 {
				ratios = append(ratios, c[len(c)-1]/c[0])
				each = append(each, fmt.Sprintf("%.2f", c[len(c)-1]/c[0]))
			}
		}
		fmt.Fprintf(out, "    cost(%d)/cost(%d): %.2f (rounds: %s)\n", counts[len(counts)-1], counts[0], median(ratios), strings.Join(each, ", "))
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
