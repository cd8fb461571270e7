package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/hack/localcluster"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// runningOptions are the flags of the running phase.
type runningOptions struct {
	rounds                string
	cpu, memory           string
	overcommit            float64
	roundTimeout, stall   time.Duration
	consoleInterval       time.Duration
	binDir, repoDir, data string
}

var runningOpts runningOptions

func runningFlags() {
	o := &runningOpts
	flag.StringVar(&o.rounds, "running-rounds", "1/cold,1/cached,10/cold,10/cached,50/cold", "running phase: rounds, each N/cold or N/cached: N machines created at once, the provider's image cache emptied first (cold) or not")
	flag.StringVar(&o.cpu, "running-cpu", "1", "running phase: vCPUs of the machine class")
	flag.StringVar(&o.memory, "running-memory", "128Mi", "running phase: memory of the machine class")
	flag.Float64Var(&o.overcommit, "running-cpu-overcommit", 32, "running phase: the pool's libvirt-provider --cpu-overcommit-ratio (enough for the largest round)")
	flag.DurationVar(&o.roundTimeout, "running-round-timeout", 5*time.Minute, "running phase: how long a round waits for its machines to be Running and print GUEST-READY")
	flag.DurationVar(&o.stall, "running-stall", 90*time.Second, "running phase: a round gives up when none of its machines progressed (a step reached, a console line seen) for this long")
	flag.DurationVar(&o.consoleInterval, "running-console-interval", 250*time.Millisecond, "running phase: how often each machine's console log is read until it shows GUEST-UP")
	flag.StringVar(&o.binDir, "running-bin-dir", "bin", "running phase: directory of the Ferrite binaries, etcd, kube-apiserver and kube-controller-manager")
	flag.StringVar(&o.repoDir, "running-repo", ".", "running phase: the repository (its hack/ scripts and config/rbac/)")
	flag.StringVar(&o.data, "running-data-dir", "", "running phase: the local cluster's data directory (default: a temporary one, removed afterwards unless -keep)")
}

// Names the running phase creates in its own cluster.
const (
	runningNamespace = "bench-running"
	runningClass     = "bench-small"
	libvirtURI       = "qemu:///system"
)

// runningRound is one round: machines created at once, with the image cache cold or not.
type runningRound struct {
	machines int
	cold     bool
}

func (r runningRound) cache() string {
	if r.cold {
		return "cold"
	}
	return "cached"
}

// runningSystem is the local cluster and pool of the running phase, with its clients.
type runningSystem struct {
	cluster *localcluster.Cluster
	pool    *localcluster.Pool
	ferrite versioned.Interface
	runtime runtimev1alpha1.MachineRuntimeClient
	// exited receives the error of the first of the cluster's processes to exit.
	exited chan error
}

// failed returns why the system broke (one of its processes exited), or nil.
func (s *runningSystem) failed() error {
	select {
	case err := <-s.exited:
		s.exited <- err
		return err
	default:
		return nil
	}
}

func runRunning(ctx context.Context, e *env) error {
	o := runningOpts
	rounds, err := runningRounds(o.rounds)
	if err != nil {
		return err
	}
	if reason := runningUnavailable(o.binDir); reason != "" {
		fmt.Printf("\n== bench-machines, running: skipped: %s\n", reason)
		return nil
	}
	dir := o.data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-machines-running-"); err != nil {
			return err
		}
	}
	sys, stop, err := startRunningSystem(ctx, o, dir)
	if err != nil {
		return fmt.Errorf("%w (logs in %s/logs)", err, dir)
	}
	clean := false
	defer func() {
		stop()
		if clean && !e.opts.keep {
			os.RemoveAll(sys.pool.StateDir)
			if o.data == "" {
				os.RemoveAll(dir)
			}
		} else {
			progress("running: logs kept in %s/logs, provider state in %s", dir, sys.pool.StateDir)
		}
	}()

	// Machines a broken earlier run left in a kept data directory.
	if err := deleteAll(ctx, sys, nil); err != nil {
		return err
	}
	report := runningReport{classCPU: o.cpu, classMemory: o.memory, overcommit: o.overcommit, consoleInterval: o.consoleInterval}
	report.idle = sample("idle, before the first round", sys.pool)
	for _, r := range rounds {
		if r.cold {
			if err := clearImageCache(sys.pool.StateDir); err != nil {
				return err
			}
		}
		progress("running: %d machines at once, image cache %s", r.machines, r.cache())
		out, err := runRound(ctx, sys, r, o)
		if err != nil {
			return err
		}
		report.rounds = append(report.rounds, out)
	}
	clean = true
	printRunning(os.Stdout, report)
	return nil
}

// runningRounds parses -running-rounds: N/cold or N/cached, comma-separated.
func runningRounds(flagValue string) ([]runningRound, error) {
	var rounds []runningRound
	for _, field := range strings.Split(flagValue, ",") {
		count, cache, _ := strings.Cut(strings.TrimSpace(field), "/")
		n, err := ints(count)
		if err != nil || len(n) != 1 || (cache != "cold" && cache != "cached") {
			return nil, fmt.Errorf("-running-rounds: %q is not N/cold or N/cached", field)
		}
		rounds = append(rounds, runningRound{machines: n[0], cold: cache == "cold"})
	}
	return rounds, nil
}

// runningUnavailable says why this machine cannot run the phase, or "".
func runningUnavailable(binDir string) string {
	if reason := localcluster.LocalPoolUnavailable(binDir); reason != "" {
		return reason
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "ferrite-apiserver", "ferrite-controller-manager"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			return name + " is not built (make build kube-apiserver)"
		}
	}
	return ""
}

// startRunningSystem starts the control plane and the local pool in dir, makes the namespace
// and the machine class, and waits until the pool offers the class.
func startRunningSystem(ctx context.Context, o runningOptions, dir string) (*runningSystem, func(), error) {
	binDir, err := filepath.Abs(o.binDir)
	if err != nil {
		return nil, nil, err
	}
	repo, err := filepath.Abs(o.repoDir)
	if err != nil {
		return nil, nil, err
	}
	progress("running: starting the control plane and a local pool in %s", dir)
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	logs := &progressWriter{}
	c, err := localcluster.Start(startCtx, localcluster.Options{DataDir: dir, BinDir: binDir,
		RBACFile: filepath.Join(repo, "config", "rbac", "roles.yaml"), Progress: logs})
	if err != nil {
		return nil, nil, err
	}
	stop := func() { c.Stop() }
	pool, err := c.StartPool(startCtx, localcluster.PoolOptions{HackDir: filepath.Join(repo, "hack"),
		RBACBindingsFile: filepath.Join(repo, "config", "rbac", "bindings.yaml"), CPUOvercommitRatio: o.overcommit,
		// A round waits for GUEST-READY (the power button's handler runs) before it deletes;
		// a round that timed out may delete guests that would ignore it for the default minute.
		ShutdownTimeout: 10 * time.Second, NoVolumePool: true})
	if err != nil {
		stop()
		return nil, nil, err
	}
	sys := &runningSystem{cluster: c, pool: pool, exited: make(chan error, 1)}
	watchCtx, stopWatching := context.WithCancel(ctx)
	go func() {
		if err := c.Wait(watchCtx); err != nil {
			sys.exited <- err
		}
	}()
	stop = func() { stopWatching(); c.Stop() }
	if err := sys.connect(startCtx, o); err != nil {
		stop()
		return nil, nil, err
	}
	return sys, stop, nil
}

// connect makes the clients (no client-side rate limit, so that a burst of creates is not
// spread out by the bench itself), the namespace and the class, and waits for the pool.
func (s *runningSystem) connect(ctx context.Context, o runningOptions) error {
	config := *s.cluster.Config
	config.QPS, config.Burst = 1000, 1000
	var err error
	if s.ferrite, err = versioned.NewForConfig(&config); err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(&config)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("unix://"+s.pool.RuntimeSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	s.runtime = runtimev1alpha1.NewMachineRuntimeClient(conn)
	cpu, err := resource.ParseQuantity(o.cpu)
	if err != nil {
		return fmt.Errorf("-running-cpu: %w", err)
	}
	memory, err := resource.ParseQuantity(o.memory)
	if err != nil {
		return fmt.Errorf("-running-memory: %w", err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: runningNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := s.ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: runningClass},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: memory},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rounds, _ := runningRounds(o.rounds)
	var want int64
	for _, r := range rounds {
		want = max(want, int64(r.machines))
	}
	progress("running: waiting for the MachinePool %q to offer %d machines of the class %s", localcluster.LocalPoolName, want, runningClass)
	deadline := time.Now().Add(2 * time.Minute)
	var have int64
	for time.Now().Before(deadline) {
		if err := s.failed(); err != nil {
			return err
		}
		p, err := s.ferrite.ComputeV1alpha1().MachinePools().Get(ctx, localcluster.LocalPoolName, metav1.GetOptions{})
		if err == nil {
			if q, ok := p.Status.Allocatable[corev1.ResourceName(runningClass)]; ok {
				if have = q.Value(); have >= want {
					return nil
				}
			}
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the MachinePool %s offers %d machines of the class %s, not %d: raise -running-cpu-overcommit or make the rounds smaller", localcluster.LocalPoolName, have, runningClass, want)
}

// clearImageCache empties the provider's image cache (the files, not the directories the
// running provider writes into), so that the next pull downloads the image again.
func clearImageCache(stateDir string) error {
	for _, sub := range []string{"images", filepath.Join("blobs", "sha256")} {
		dir := filepath.Join(stateDir, "images", sub)
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, entry := range entries {
			if err := os.RemoveAll(filepath.Join(dir, entry.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// progressWriter passes the local cluster's step lines to progress.
type progressWriter struct{}

func (progressWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		progress("running: %s", strings.TrimPrefix(line, ">> "))
	}
	return len(p), nil
}
