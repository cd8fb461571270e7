//go:build e2e

package ha

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ferrite-dev/ferrite/test/e2e/durable"
)

// timeline records when creates were acknowledged, when clients saw errors, and when
// processes were killed and came back, relative to the start of the creates.
type timeline struct {
	start  time.Time
	mu     sync.Mutex
	acks   []time.Duration
	errors []clientError
	kills  []*kill
}

// clientError is an error a client saw and retried.
type clientError struct {
	at   time.Duration
	kind string
}

// kill is one process killed and restarted.
type kill struct {
	what                     string
	killed, restarted, ready time.Duration
}

func newTimeline() *timeline { return &timeline{start: time.Now()} }

func (tl *timeline) now() time.Duration { return time.Since(tl.start) }

func (tl *timeline) ack() {
	at := tl.now()
	tl.mu.Lock()
	tl.acks = append(tl.acks, at)
	tl.mu.Unlock()
}

func (tl *timeline) error(kind string) {
	at := tl.now()
	tl.mu.Lock()
	tl.errors = append(tl.errors, clientError{at, kind})
	tl.mu.Unlock()
}

// addKill records a kill that happens now.
func (tl *timeline) addKill(what string) *kill {
	k := &kill{what: what, killed: tl.now()}
	tl.mu.Lock()
	tl.kills = append(tl.kills, k)
	tl.mu.Unlock()
	return k
}

// count returns how many of the sorted times fall in [from, to).
func count(times []time.Duration, from, to time.Duration) int {
	i := sort.Search(len(times), func(i int) bool { return times[i] >= from })
	j := sort.Search(len(times), func(i int) bool { return times[i] >= to })
	return j - i
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// report prints the figures of the run: creates per second before, during and after the
// kills, and for each kill when the process was back, how long clients saw errors, the
// longest pause between acknowledged creates and when the rate was back to half of what it
// was before the kills.
func (tl *timeline) report(end time.Duration) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	acks := append([]time.Duration(nil), tl.acks...)
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	sort.Slice(tl.errors, func(i, j int) bool { return tl.errors[i].at < tl.errors[j].at })
	errs := make([]time.Duration, len(tl.errors))
	for i, e := range tl.errors {
		errs[i] = e.at
	}
	var b strings.Builder
	if len(tl.kills) == 0 {
		return "no kills"
	}
	first, last := tl.kills[0].killed, tl.kills[0].ready
	for _, k := range tl.kills {
		last = max(last, k.ready)
	}
	before := float64(count(acks, 0, first)) / first.Seconds()
	fmt.Fprintf(&b, "Machine creates per second:\n")
	for _, phase := range []struct {
		name     string
		from, to time.Duration
	}{{"before the kills", 0, first}, {"from the first kill until all are back", first, last}, {"after", last, end}} {
		n := count(acks, phase.from, phase.to)
		fmt.Fprintf(&b, "  %-40s %5.1f-%5.1f s  %6d creates  %6.0f/s\n", phase.name, phase.from.Seconds(), phase.to.Seconds(), n, float64(n)/(phase.to-phase.from).Seconds())
	}
	fmt.Fprintf(&b, "Kills (times from the kill; the client errors are those until the next kill or the end):\n")
	fmt.Fprintf(&b, "  %-34s %8s %10s %8s %7s %11s %14s %14s\n", "process", "at", "restarted", "ready", "errors", "errors for", "longest pause", "half rate at")
	for i, k := range tl.kills {
		until := end
		if i+1 < len(tl.kills) {
			until = tl.kills[i+1].killed
		}
		n := count(errs, k.killed, until)
		errorsFor := "-"
		if n > 0 {
			j := sort.Search(len(errs), func(j int) bool { return errs[j] >= until }) - 1
			errorsFor = seconds(errs[j] - k.killed)
		}
		// The longest pause between acknowledged creates from the kill until the process is back.
		pause, previous := time.Duration(0), k.killed
		for _, at := range acks[sort.Search(len(acks), func(j int) bool { return acks[j] >= k.killed }):] {
			pause = max(pause, at-previous)
			previous = at
			if at > k.ready {
				break
			}
		}
		halfRate := "never"
		for t := k.killed; t+time.Second <= until; t += 100 * time.Millisecond {
			if float64(count(acks, t, t+time.Second)) >= before/2 {
				halfRate = seconds(t + time.Second - k.killed)
				break
			}
		}
		fmt.Fprintf(&b, "  %-34s %8s %10s %8s %7d %11s %14s %14s\n", k.what, seconds(k.killed), "+"+seconds(k.restarted-k.killed), "+"+seconds(k.ready-k.killed),
			n, errorsFor, seconds(pause), halfRate)
	}
	fmt.Fprintf(&b, "Client errors by kind:\n  before the kills: %s\n", tl.kinds(0, first))
	for i, k := range tl.kills {
		until := end
		if i+1 < len(tl.kills) {
			until = tl.kills[i+1].killed
		}
		fmt.Fprintf(&b, "  after killing %s: %s\n", k.what, tl.kinds(k.killed, until))
	}
	for _, series := range []struct {
		name  string
		times []time.Duration
	}{{"Machine creates acknowledged", acks}, {"Client errors (Machines and Networks)", errs}} {
		fmt.Fprintf(&b, "%s in each second:", series.name)
		for t := time.Duration(0); t < end; t += time.Second {
			if t%(20*time.Second) == 0 {
				fmt.Fprintf(&b, "\n  %3d s:", int(t.Seconds()))
			}
			fmt.Fprintf(&b, " %d", count(series.times, t, t+time.Second))
		}
		fmt.Fprintln(&b)
	}
	return strings.TrimRight(b.String(), "\n")
}

// kinds tallies the kinds of the errors in [from, to); tl.mu is held.
func (tl *timeline) kinds(from, to time.Duration) string {
	var counts durable.ErrorCounts
	for _, e := range tl.errors {
		if e.at >= from && e.at < to {
			counts.Add(e.kind, nil)
		}
	}
	return counts.String()
}
