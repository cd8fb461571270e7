// Command bench-machines measures what Machines cost the control plane when there are many
// machine pools. It runs phases (-phase, default all, in this order):
//
//   - watchers: ferrite-apiserver's CPU per Machine event with 10 and with 1,000 simulated
//     machinepoollets, each watching the Machines of its own pool with the field selector
//     spec.machinePoolRef.name=<pool> (which the apiserver's watch cache indexes), next to a
//     ceiling (the same writes with no watcher) and, for comparison, the same watchers on a
//     label selector the index does not serve. Every watcher must receive exactly its pool's
//     events; watches the server ends (apiserver_terminated_watchers_total) are reported.
//   - running: create-to-Running of 1, 10 and 50 real machines created at once on a local
//     machine pool (localcluster: kube-apiserver, ferrite-apiserver, the controller managers,
//     libvirt-provider on libvirtd with QEMU, a machinepoollet), split per machine into
//     scheduling, poollet, image pull (cold and cached), define, start, first console byte and
//     GUEST-UP, and the poollet's write of status Running; the poollet's and the provider's
//     memory. Skipped, with one line saying why, where a local pool cannot run.
//
// The watchers phase starts etcd and ferrite-apiserver as separate processes on loopback, so
// the apiserver's CPU time comes from its own /proc entry; the running phase starts a local
// cluster of its own. It prints figures and never fails on a number. Run it with
// `make bench-machines`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// phase is one part of the benchmark.
type phase struct {
	name string
	run  func(ctx context.Context, e *env) error
	// ownSystem is set for a phase that starts the system it measures itself, and needs
	// neither the shared etcd nor the shared ferrite-apiserver.
	ownSystem bool
}

// phases are run in this order by -phase all.
var phases = []phase{
	{name: "watchers", run: runWatchers},
	{name: "running", run: runRunning, ownSystem: true},
}

// options are the flags every phase shares.
type options struct {
	apiserverBin, etcdBin, workDir string
	keep                           bool
	phases                         []phase
}

func parseFlags() (*options, error) {
	o := &options{}
	var names string
	flag.StringVar(&o.apiserverBin, "apiserver", "bin/ferrite-apiserver", "ferrite-apiserver binary")
	flag.StringVar(&o.etcdBin, "etcd", "bin/etcd", "etcd binary")
	flag.StringVar(&o.workDir, "work-dir", "", "directory for etcd data and logs (default: a temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&names, "phase", "all", "phases to run, comma-separated: all, "+phaseNames())
	watcherFlags()
	runningFlags()
	flag.Parse()
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			o.phases = append(o.phases, phases...)
			continue
		}
		found := false
		for _, p := range phases {
			if p.name == name {
				o.phases, found = append(o.phases, p), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-phase: unknown phase %q (all, %s)", name, phaseNames())
		}
	}
	return o, nil
}

func phaseNames() string {
	var names []string
	for _, p := range phases {
		names = append(names, p.name)
	}
	return strings.Join(names, ", ")
}

func main() {
	o, err := parseFlags()
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-machines:", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	load, _ := os.ReadFile("/proc/loadavg")
	progress("%d CPUs, load average %s", runtime.NumCPU(), strings.TrimSpace(string(load)))
	e := &env{opts: o}
	if slices.ContainsFunc(o.phases, func(p phase) bool { return !p.ownSystem }) {
		stop, err := setup(o, e)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx := context.Background()
	for _, p := range o.phases {
		progress("phase %s", p.name)
		if err := p.run(ctx, e); err != nil {
			return fmt.Errorf("phase %s: %w", p.name, err)
		}
	}
	return nil
}

// progress reports what the benchmark is doing on stderr; figures go to stdout.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// ints parses a comma-separated list of positive numbers.
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
