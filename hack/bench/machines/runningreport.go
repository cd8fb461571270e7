package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// runningReport is everything the running phase prints.
type runningReport struct {
	classCPU, classMemory string
	overcommit            float64
	consoleInterval       time.Duration
	idle                  memorySample
	rounds                []roundOutcome
}

// stretch is one phase of a machine's way to Running: the time between two of its stamps.
type stretch struct {
	name, span string
	from, to   func(*stamps) time.Time
}

// stretches are the phases the running phase reports, in order along the way.
var stretches = []stretch{
	{"scheduling", "create -> spec.machinePoolRef set", func(s *stamps) time.Time { return s.created }, func(s *stamps) time.Time { return s.bound }},
	{"poollet", "bound -> runtime machine exists", func(s *stamps) time.Time { return s.bound }, func(s *stamps) time.Time { return s.added }},
	{"pull queued", "runtime machine -> ImagePulling", func(s *stamps) time.Time { return s.added }, func(s *stamps) time.Time { return s.pulling }},
	{"image pull", "ImagePulling -> Preparing", func(s *stamps) time.Time { return s.pulling }, func(s *stamps) time.Time { return s.pulled }},
	{"define", "Preparing -> Defined (disks, user data, domain)", func(s *stamps) time.Time { return s.pulled }, func(s *stamps) time.Time { return s.defined }},
	{"start", "Defined -> runtime state RUNNING", func(s *stamps) time.Time { return s.defined }, func(s *stamps) time.Time { return s.started }},
	{"console", "RUNNING -> first console byte", func(s *stamps) time.Time { return s.started }, func(s *stamps) time.Time { return s.consoleFirst }},
	{"guest", "RUNNING -> GUEST-UP on the console", func(s *stamps) time.Time { return s.started }, func(s *stamps) time.Time { return s.guestUp }},
	{"guest ready", "GUEST-UP -> GUEST-READY", func(s *stamps) time.Time { return s.guestUp }, func(s *stamps) time.Time { return s.guestReady }},
	{"status", "RUNNING -> Machine status Running", func(s *stamps) time.Time { return s.started }, func(s *stamps) time.Time { return s.running }},
	{"total", "create -> Machine status Running", func(s *stamps) time.Time { return s.created }, func(s *stamps) time.Time { return s.running }},
	{"total guest", "create -> GUEST-UP", func(s *stamps) time.Time { return s.created }, func(s *stamps) time.Time { return s.guestUp }},
}

// durations are the stretch's seconds for every machine that has both of its stamps.
func (st stretch) durations(machines []*stamps) []float64 {
	var out []float64
	for _, s := range machines {
		from, to := st.from(s), st.to(s)
		if !from.IsZero() && !to.IsZero() {
			out = append(out, to.Sub(from).Seconds())
		}
	}
	return out
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of values; NaN for none.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

func seconds(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func printRunning(out io.Writer, r runningReport) {
	load, _ := os.ReadFile("/proc/loadavg")
	accel := "no /dev/kvm: TCG guests"
	if _, err := os.Stat("/dev/kvm"); err == nil {
		accel = "/dev/kvm present"
	}
	fmt.Fprintf(out, "\n== bench-machines, running (%s, %d CPUs, %s, load average at end %s)\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), accel, strings.TrimSpace(string(load)))
	fmt.Fprintf(out, "Machines of %s vCPU and %s memory, the test guest image, created at once on one local pool (libvirt-provider --cpu-overcommit-ratio=%g).\n", r.classCPU, r.classMemory, r.overcommit)
	fmt.Fprintf(out, "Seconds per machine as the bench received each change: the Machine watch, the provider's Watch (reasons, events, state), ReadConsoleLog every %s.\n", r.consoleInterval)
	fmt.Fprintf(out, "A cold round first empties the provider's image cache. Between rounds every Machine is deleted and no domain remains.\n")
	for _, round := range r.rounds {
		printRound(out, round)
	}
	fmt.Fprintf(out, "\nMemory, MiB VmRSS / VmHWM (peak so far)\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "when\tmachinepoollet\tlibvirt-provider\t")
	for _, m := range append([]memorySample{r.idle}, memorySamples(r.rounds)...) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", m.when, m.poollet, m.provider)
	}
	tw.Flush()
}

func memorySamples(rounds []roundOutcome) []memorySample {
	var out []memorySample
	for _, r := range rounds {
		out = append(out, r.memory)
	}
	return out
}

func printRound(out io.Writer, r roundOutcome) {
	running := 0
	for _, s := range r.machines {
		if !s.running.IsZero() {
			running++
		}
	}
	what := fmt.Sprintf("all Running after %.1f s", r.wall.Seconds())
	if r.timedOut {
		what = fmt.Sprintf("gave up after %.0f s (not all Running and GUEST-READY)", r.wall.Seconds())
	}
	fmt.Fprintf(out, "\n%d machines, image cache %s: %d/%d Running, %s; deleted (no Machine, no domain) in %.1f s\n",
		r.round.machines, r.round.cache(), running, r.round.machines, what, r.deleted.Seconds())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  phase\tfrom -> to\tn\tp50 s\tp90 s\tmax s\t")
	for _, st := range stretches {
		d := st.durations(r.machines)
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t\n", st.name, st.span, len(d),
			seconds(percentile(d, 50)), seconds(percentile(d, 90)), seconds(percentile(d, 100)))
	}
	tw.Flush()
}
