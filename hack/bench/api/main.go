// Command bench-api measures ferrite-apiserver under load against the ceiling of its etcd,
// in one run: Machine creates per second and latency at several concurrencies (protobuf and
// JSON), apiserver CPU per create, creates through two apiservers on the same etcd against
// one, LIST of many Machines, many watchers during creates, and resident memory with many
// Machines stored. The ceiling is the same number of
// create-if-absent transactions of the same stored size, at the same concurrency, sent
// straight to etcd, measured back to back with each create phase.
//
// It starts etcd and ferrite-apiserver as separate processes, so their CPU time and memory
// come from their own /proc entries. It prints figures and ratios; it never fails on a number.
// Run it with `make bench-api`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
)

// apiserverEnv and apiserverArgs are the -apiserver-env and -apiserver-args flags.
var apiserverEnv, apiserverArgs string

// options are the command-line flags.
type options struct {
	apiserverBin, etcdBin, workDir string
	counts, clients                []int
	jsonCount, warmup              int
	watchers, watchCount           int
	watchClients                   int
	listRuns                       int
	stored                         int
	profile, profileList           string
	profileWatch                   string
	heapProfile                    string
	profileSeconds                 int
	keep, sharedConnection         bool
}

func parseFlags() (*options, error) {
	o := &options{}
	var counts, clients string
	flag.StringVar(&o.apiserverBin, "apiserver", "bin/ferrite-apiserver", "ferrite-apiserver binary")
	flag.StringVar(&o.etcdBin, "etcd", "bin/etcd", "etcd binary")
	flag.StringVar(&o.workDir, "work-dir", "", "directory for etcd data and logs (default: a temporary one)")
	flag.StringVar(&counts, "counts", "5000,20000", "Machines created per phase")
	flag.StringVar(&clients, "clients", "16,64", "concurrent clients per phase")
	flag.IntVar(&o.jsonCount, "json-count", 5000, "Machines created per JSON phase (0: no JSON phase)")
	flag.IntVar(&o.warmup, "warmup", 500, "Machines created before measuring")
	flag.IntVar(&o.watchers, "watchers", 100, "watchers during the watch phase")
	flag.IntVar(&o.watchCount, "watch-count", 5000, "Machines created during the watch phase")
	flag.IntVar(&o.watchClients, "watch-clients", 64, "concurrent clients during the watch phase")
	flag.IntVar(&o.listRuns, "list-runs", 10, "LISTs per list measurement")
	flag.IntVar(&o.stored, "stored", 100000, "Machines stored when resident memory is read")
	flag.StringVar(&o.profile, "profile", "", "write an apiserver CPU profile taken during the largest protobuf create phase to this file")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 15, "length of the CPU profiles")
	flag.StringVar(&o.profileWatch, "profile-watch", "", "write an apiserver CPU profile taken during the creates with watchers to this file")
	flag.StringVar(&o.profileList, "profile-list", "", "write an apiserver CPU profile taken during LISTs from the watch cache to this file")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "write a heap profile of the apiserver, taken after the Machines are stored and a garbage collection, to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&apiserverEnv, "apiserver-env", "", "extra environment of the apiserver, comma-separated NAME=value (for example GOGC=200)")
	flag.StringVar(&apiserverArgs, "apiserver-args", "", "extra flags of the apiserver, space-separated (for example --feature-gates=ListFromCacheSnapshot=false)")
	flag.BoolVar(&o.sharedConnection, "shared-connection", false, "let all create clients share one connection (client-go's default within a process) instead of one each")
	fanoutFlags()
	largeListFlags()
	applyFlags()
	getFlags()
	replicasFlags()
	flag.Parse()
	var err error
	if o.counts, err = ints(counts); err != nil {
		return nil, err
	}
	if o.clients, err = ints(clients); err != nil {
		return nil, err
	}
	return o, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	o, err := parseFlags()
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	e, stop, err := setup(o)
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	rep := &report{started: time.Now()}
	rep.header()

	progress("warming up: %d creates", o.warmup)
	if r := createMachines(ctx, e.meter, e.protoCreators, "warmup", o.warmup, 16); r.Errors > 0 {
		return fmt.Errorf("warm-up creates failed: %v", r.FirstErr)
	}
	sample, key, err := storedSample(ctx, e.etcd.Client, "warmup")
	if err != nil {
		return err
	}
	rep.storedSize, rep.storedFormat, rep.keySize = len(sample), format(sample), len(key)
	rep.rssStart = rss(e)
	created := o.warmup

	largest := o.counts[len(o.counts)-1]
	for _, n := range o.counts {
		for _, c := range o.clients {
			progress("etcd ceiling: %d transactions, %d clients", n, c)
			ceiling := etcdCeiling(ctx, e.meter, e.etcd.Client, fmt.Sprintf("/bench-ceiling/c%d-n%d/", c, n), sample, n, c)
			ns := fmt.Sprintf("proto-c%d-n%d", c, n)
			progress("protobuf creates: %d Machines, %d clients", n, c)
			profileDone := make(chan error, 1)
			profiling := o.profile != "" && n == largest && c == o.clients[len(o.clients)-1]
			if profiling {
				go func() { profileDone <- e.apiserver.CPUProfile(ctx, o.profileSeconds, o.profile) }()
			}
			r := createMachines(ctx, e.meter, e.protoCreators, ns, n, c)
			created += n
			if profiling {
				if err := <-profileDone; err != nil {
					progress("profile: %v", err)
				} else {
					progress("profile written to %s", o.profile)
				}
			}
			rep.addCreates("protobuf", c, n, r, ceiling)
			if o.jsonCount > 0 && n == o.counts[0] {
				progress("JSON creates: %d Machines, %d clients", o.jsonCount, c)
				r := createMachines(ctx, e.meter, e.jsonCreators, fmt.Sprintf("json-c%d-n%d", c, o.jsonCount), o.jsonCount, c)
				created += o.jsonCount
				rep.addCreates("json", c, o.jsonCount, r, ceiling)
			}
		}
	}

	// Right after the create phases, while the store is small: the second apiserver loads it
	// at start, and it is stopped before the LISTs.
	if replicasOptions.count > 0 {
		rows, stored, err := runReplicas(ctx, e, sample)
		if err != nil {
			return fmt.Errorf("two-apiserver phase: %w", err)
		}
		created += stored
		rep.replicas = rows
	}

	listNS := fmt.Sprintf("proto-c%d-n%d", o.clients[len(o.clients)-1], o.counts[0])
	for _, rv := range []string{"", "0"} {
		for _, variant := range []struct {
			name   string
			client versioned.Interface
			raw    bool
			accept string
		}{
			{"protobuf", e.proto, false, ""},
			{"protobuf, no gzip", e.protoPlain, false, ""},
			{"protobuf, no gzip, not decoded", e.protoPlain, true, runtime.ContentTypeProtobuf},
			{"json", e.json, false, ""},
			{"json, no gzip", e.jsonPlain, false, ""},
			{"json, no gzip, not decoded", e.jsonPlain, true, runtime.ContentTypeJSON},
		} {
			progress("LIST %s, resourceVersion=%q, %s", listNS, rv, variant.name)
			times, items, cpu, err := listTimes(ctx, e.meter, variant.client, listNS, rv, o.listRuns, variant.raw, variant.accept)
			if err != nil {
				return fmt.Errorf("listing %s: %w", listNS, err)
			}
			rep.addList(rv, variant.name, items, times, cpu)
		}
	}

	if o.profileList != "" {
		if err := profileLists(ctx, e.apiserver, e.proto, listNS, o.profileSeconds, o.profileList); err != nil {
			progress("list profile: %v", err)
		} else {
			progress("list profile written to %s", o.profileList)
		}
	}

	if o.watchers > 0 {
		progress("watch baseline: %d creates, %d clients, no watchers", o.watchCount, o.watchClients)
		base := createMachines(ctx, e.meter, e.protoCreators, "watch-baseline", o.watchCount, o.watchClients)
		progress("watch: %d watchers, %d creates, %d clients", o.watchers, o.watchCount, o.watchClients)
		profileDone := make(chan error, 1)
		if o.profileWatch != "" {
			go func() { profileDone <- e.apiserver.CPUProfile(ctx, o.profileSeconds, o.profileWatch) }()
		}
		w, err := watchWhileCreating(ctx, e.meter, e.protoCreators, e.config, "watched", o.watchers, o.watchCount, o.watchClients)
		if err != nil {
			return err
		}
		created += 2 * o.watchCount
		if o.profileWatch != "" {
			if err := <-profileDone; err != nil {
				progress("watch profile: %v", err)
			}
		}
		rep.setWatch(o.watchClients, base, w)
	}

	if fill := o.stored - created; fill > 0 {
		progress("storing %d Machines in all: %d more creates, %d clients", o.stored, fill, fillClients)
		r := createMachines(ctx, e.meter, e.protoCreators, "fill", fill, fillClients)
		rep.fill = &r
	}
	time.Sleep(2 * time.Second)
	if rep.storedCount, err = countMachines(ctx, e.etcd.Client); err != nil {
		return err
	}
	rep.rssEnd = rss(e)
	if rep.heap, err = readHeap(ctx, e, o.heapProfile); err != nil {
		progress("heap figures: %v", err)
	}

	// The phases that follow store Machines beyond -stored: they run after the memory figures.
	if getOptions.count > 0 {
		r, err := runGets(ctx, e, listNS, o.profileSeconds)
		if err != nil {
			return err
		}
		rep.gets = &r
	}

	if applyOptions.count > 0 {
		rows, err := runApply(ctx, e)
		if err != nil {
			return fmt.Errorf("server-side apply phase: %w", err)
		}
		rep.apply = rows
	}

	if largeListOptions.count > 0 {
		rows, err := runLargeList(ctx, e, sample)
		if err != nil {
			return fmt.Errorf("large LIST phase: %w", err)
		}
		rep.largeLists = rows
	}

	if fanoutOptions.events > 0 {
		outcomes, err := runFanout(ctx, e, sample)
		if err != nil {
			return fmt.Errorf("fan-out phase: %w", err)
		}
		rep.fanout = outcomes
	}

	rep.print(os.Stdout)
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
