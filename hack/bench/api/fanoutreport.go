package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// printFanout prints one row per configuration: medians over the rounds of the apiserver's
// CPU per event written and per event delivered, and of the CPU per delivered event beyond
// the configuration without watchers in the same round (the cost of the watchers alone).
func printFanout(out io.Writer, outcomes []fanoutOutcome) {
	if len(outcomes) == 0 {
		return
	}
	o := fanoutOptions
	fmt.Fprintf(out, "\nFAN-OUT: %d Machine writes per configuration straight into etcd (at most %.0f/s, and %.0f deliveries/s), so that the apiserver's CPU is that of the events alone; %d round(s), medians\n",
		o.events, o.rate, o.deliveries, o.rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "watchers\twire\tdelivered\tmissing\tended\tapiserver us/event written\tx fewest pool watchers\tapiserver us/event delivered\tbeyond no watcher, us/delivered\tclient us/delivered\tlag ms\t")
	base := map[int]float64{}   // round -> apiserver seconds per write without watchers
	fewest := map[int]float64{} // round -> the same with the fewest pool watchers (the first such configuration)
	for _, r := range outcomes {
		perWrite := r.cpu.APIServer / float64(r.writes.Ops)
		if r.config.pools == 0 && r.config.unfiltered == 0 {
			base[r.round] = perWrite
		}
		if _, ok := fewest[r.round]; !ok && r.config.pools > 0 {
			fewest[r.round] = perWrite
		}
	}
	var order []fanoutConfig
	rows := map[fanoutConfig][]fanoutOutcome{}
	for _, r := range outcomes {
		if _, ok := rows[r.config]; !ok {
			order = append(order, r.config)
		}
		rows[r.config] = append(rows[r.config], r)
	}
	for _, c := range order {
		var written, ratio, delivered, beyond, client, lag []float64
		var d delivery
		for _, r := range rows[c] {
			written = append(written, 1e6*r.cpu.APIServer/float64(r.writes.Ops))
			ratio = append(ratio, r.cpu.APIServer/float64(r.writes.Ops)/fewest[r.round])
			n := float64(max(1, r.delivery.delivered))
			delivered = append(delivered, 1e6*r.cpu.APIServer/n)
			beyond = append(beyond, 1e6*(r.cpu.APIServer-base[r.round]*float64(r.writes.Ops))/n)
			client = append(client, 1e6*r.cpu.Client/n)
			lag = append(lag, float64(r.lag.Milliseconds()))
			d.delivered += r.delivery.delivered
			d.missing += r.delivery.missing + r.delivery.extra
			d.ended += r.delivery.ended
		}
		wire := wireName(c.mediaType)
		if c.pools == 0 && c.unfiltered == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%.1f\t-\t-\t-\t-\t-\t\n", c, median(written))
			continue
		}
		r := "-"
		if c.pools > 0 {
			r = fmt.Sprintf("%.2f", median(ratio))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\t%.1f\t%.1f\t%.1f\t%.0f\t\n", c, wire, d.delivered, d.missing, d.ended,
			median(written), r, median(delivered), median(beyond), median(client), median(lag))
	}
	tw.Flush()
}

// median returns the median of xs (the lower middle for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[(len(s)-1)/2]
}

// fanoutFlatness returns the most pool watchers measured and the median over the rounds of
// their cost per event over that of the fewest pool watchers; ok is false without two such
// configurations.
func fanoutFlatness(outcomes []fanoutOutcome) (most int, ratio float64, ok bool) {
	fewest := map[int]fanoutOutcome{}
	largest := map[int]fanoutOutcome{}
	for _, r := range outcomes {
		if r.config.pools == 0 {
			continue
		}
		if f, seen := fewest[r.round]; !seen || r.config.pools < f.config.pools {
			fewest[r.round] = r
		}
		if l, seen := largest[r.round]; !seen || r.config.pools > l.config.pools {
			largest[r.round] = r
		}
	}
	var ratios []float64
	for round, l := range largest {
		f := fewest[round]
		if l.config.pools == f.config.pools {
			continue
		}
		most = l.config.pools
		ratios = append(ratios, (l.cpu.APIServer/float64(l.writes.Ops))/(f.cpu.APIServer/float64(f.writes.Ops)))
	}
	return most, median(ratios), len(ratios) > 0
}
