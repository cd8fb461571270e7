package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// roundOutcome is what one round of the running phase measured.
type roundOutcome struct {
	round    runningRound
	machines []*stamps
	// wall is from the first create to the last Machine Running, or until the round gave up.
	wall time.Duration
	// timedOut is set when some machine did not run (or print GUEST-UP) in time.
	timedOut bool
	// deleted is from the deletes to no Machine, no runtime machine and no domain left.
	deleted time.Duration
	// memory is sampled once every machine runs, before the deletes.
	memory memorySample
}

// runRound creates r.machines Machines at once, follows each to Running and GUEST-READY, then
// deletes them all and waits until no domain remains.
func runRound(ctx context.Context, sys *runningSystem, r runningRound, o runningOptions) (roundOutcome, error) {
	out := roundOutcome{round: r}
	machines := sys.ferrite.ComputeV1alpha1().Machines(runningNamespace)
	rec := newRecorder()
	observeCtx, stopObserving := context.WithCancel(ctx)
	defer stopObserving()
	list, err := machines.List(ctx, metav1.ListOptions{})
	if err != nil {
		return out, err
	}
	if len(list.Items) > 0 {
		return out, fmt.Errorf("%d Machines left from an earlier round", len(list.Items))
	}
	var observers sync.WaitGroup
	observers.Go(func() { rec.watchMachines(observeCtx, machines, list.ResourceVersion) })
	if err := rec.watchRuntime(observeCtx, &observers, sys.runtime); err != nil {
		return out, err
	}
	observers.Go(func() { rec.pollConsoles(observeCtx, sys.runtime, o.consoleInterval) })

	start := time.Now()
	var creates sync.WaitGroup
	errs := make(chan error, r.machines)
	for i := range r.machines {
		creates.Go(func() {
			m := &computev1alpha1.Machine{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%03d", i), Namespace: runningNamespace},
				Spec: computev1alpha1.MachineSpec{
					MachineClassRef: corev1.LocalObjectReference{Name: runningClass},
					Power:           computev1alpha1.PowerOn,
					Image:           sys.pool.GuestImage,
				},
			}
			at := time.Now()
			created, err := machines.Create(ctx, m, metav1.CreateOptions{})
			if err != nil {
				errs <- fmt.Errorf("creating Machine %s: %w", m.Name, err)
				return
			}
			rec.created(created.UID, created.Name, at)
		})
	}
	creates.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return out, err
	}

	deadline := start.Add(o.roundTimeout)
	for !rec.done(r.machines) {
		if err := sys.failed(); err != nil {
			return out, err
		}
		stalled := rec.sinceProgress() > o.stall
		if stalled || time.Now().After(deadline) {
			out.timedOut = true
			why := fmt.Sprintf("timed out after %s", o.roundTimeout)
			if stalled {
				why = fmt.Sprintf("gave up after %.0f s: nothing progressed for %s", time.Since(start).Seconds(), o.stall)
			}
			progress("running: %s: %s", why, rec.summary())
			printStuck(ctx, sys, rec.all())
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out.machines = rec.all()
	for _, s := range out.machines {
		if !s.running.IsZero() {
			out.wall = max(out.wall, s.running.Sub(start))
		}
	}
	if out.timedOut {
		out.wall = time.Since(start)
	}
	out.memory = sample(fmt.Sprintf("%d machines running (%s)", r.machines, r.cache()), sys.pool)
	stopObserving()
	observers.Wait()
	progress("running: %s; deleting them", rec.summary())

	deleteStart := time.Now()
	if err := deleteAll(ctx, sys, out.machines); err != nil {
		return out, err
	}
	out.deleted = time.Since(deleteStart)
	return out, nil
}

// printStuck reports, for each machine of a round that gave up, how far it got and the end
// of its console log.
func printStuck(ctx context.Context, sys *runningSystem, round []*stamps) {
	for _, s := range round {
		if !s.running.IsZero() && !s.guestReady.IsZero() {
			continue
		}
		tail := "no runtime machine"
		if s.runtimeID != "" {
			resp, err := sys.runtime.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: s.runtimeID, TailBytes: 240})
			if err != nil {
				tail = err.Error()
			} else {
				tail = fmt.Sprintf("%d console bytes, ending %q", resp.GetTotalBytes(), resp.GetData())
			}
		}
		progress("running:   %s: Running %t, started %t, GUEST-UP %t, GUEST-READY %t; %s",
			s.name, !s.running.IsZero(), !s.started.IsZero(), !s.guestUp.IsZero(), !s.guestReady.IsZero(), tail)
	}
}

// deleteAll deletes every Machine of the namespace and waits until no Machine, no runtime
// machine and no libvirt domain of them remains.
func deleteAll(ctx context.Context, sys *runningSystem, round []*stamps) error {
	machines := sys.ferrite.ComputeV1alpha1().Machines(runningNamespace)
	list, err := machines.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var deletes sync.WaitGroup
	for _, m := range list.Items {
		deletes.Go(func() { _ = machines.Delete(ctx, m.Name, metav1.DeleteOptions{}) })
	}
	deletes.Wait()
	deadline := time.Now().Add(5 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		if err := sys.failed(); err != nil {
			return err
		}
		left, err := leftovers(ctx, sys, round)
		if err == nil && left == "" {
			return nil
		}
		if err != nil {
			left = err.Error()
		}
		last = left
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("after deleting the round's Machines, 5 minutes later: %s", last)
}

// leftovers says what of a deleted round remains: Machines, runtime machines, domains.
func leftovers(ctx context.Context, sys *runningSystem, round []*stamps) (string, error) {
	list, err := sys.ferrite.ComputeV1alpha1().Machines(runningNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	if n := len(list.Items); n > 0 {
		return fmt.Sprintf("%d Machines", n), nil
	}
	if n, err := runtimeMachineCount(ctx, sys); err != nil || n > 0 {
		return fmt.Sprintf("%d runtime machines", n), err
	}
	// The libvirtd is shared with other pools (other instances): only this round's domains count.
	var names []string
	for _, flag := range []string{"--uuid", "--name"} {
		out, err := exec.CommandContext(ctx, "virsh", "-q", "-c", libvirtURI, "list", "--all", flag).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("virsh list: %w: %s", err, out)
		}
		names = append(names, strings.Fields(string(out))...)
	}
	n := 0
	for _, s := range round {
		for _, name := range names {
			if strings.Contains(name, string(s.uid)) || (s.runtimeID != "" && strings.Contains(name, s.runtimeID)) {
				n++
				break
			}
		}
	}
	if n > 0 {
		return fmt.Sprintf("%d libvirt domains", n), nil
	}
	return "", nil
}

// stamps are the moments of one Machine's way to Running, as the bench saw them (its clock,
// when it received each change).
type stamps struct {
	name      string
	uid       types.UID
	runtimeID string
	// created is just before the create request.
	created time.Time
	// bound: spec.machinePoolRef set (the scheduler's binding), in the Machine watch.
	bound time.Time
	// added: the runtime machine exists (the provider's Watch, ADDED: its placeholder domain).
	added time.Time
	// pulling and pulled: the runtime machine's status reason became ImagePulling, then
	// Preparing (the pull is done; disks and user data are written next).
	pulling, pulled time.Time
	// defined: the provider's Defined event (the full domain is defined).
	defined time.Time
	// started: the runtime machine's state RUNNING (the domain started).
	started time.Time
	// consoleFirst, guestUp and guestReady: the console log first had bytes, then showed
	// GUEST-UP (the guest's init runs), then GUEST-READY (its init is done: disks, network,
	// the power button's handler) (ReadConsoleLog, polled).
	consoleFirst, guestUp, guestReady time.Time
	// running: the Machine's status.state Running (the poollet's write), in the Machine watch.
	running time.Time
}

// mark sets t to now unless it is set, and notes the progress. The caller holds r.mu.
func (r *recorder) mark(t *time.Time, now time.Time) {
	if t.IsZero() {
		*t = now
		r.progressed = now
	}
}

// sinceProgress is how long ago a stamp was last set.
func (r *recorder) sinceProgress() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.progressed)
}

// recorder collects the stamps of a round's machines from the observers.
type recorder struct {
	mu    sync.Mutex
	byUID map[types.UID]*stamps
	// uidOf maps runtime machine IDs to Machine UIDs.
	uidOf map[string]types.UID
	// progressed is when a stamp was last set.
	progressed time.Time
}

func newRecorder() *recorder {
	return &recorder{byUID: map[types.UID]*stamps{}, uidOf: map[string]types.UID{}, progressed: time.Now()}
}

// at returns the stamps of uid, made on first use (an observer may see a Machine before its
// create returns). The caller holds r.mu.
func (r *recorder) at(uid types.UID) *stamps {
	s := r.byUID[uid]
	if s == nil {
		s = &stamps{uid: uid}
		r.byUID[uid] = s
	}
	return s
}

func (r *recorder) created(uid types.UID, name string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.at(uid)
	s.name, s.created = name, at
}

// all returns the stamps of the Machines this round created.
func (r *recorder) all() []*stamps {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*stamps
	for _, s := range r.byUID {
		if !s.created.IsZero() {
			c := *s
			out = append(out, &c)
		}
	}
	return out
}

// done reports whether all n Machines are Running and showed GUEST-READY (so that the
// deletes that follow find guests that handle the power button).
func (r *recorder) done(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	count := 0
	for _, s := range r.byUID {
		if !s.created.IsZero() && !s.running.IsZero() && !s.guestReady.IsZero() {
			count++
		}
	}
	return count >= n
}

// summary counts the machines that reached each step.
func (r *recorder) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var created, bound, added, started, guestUp, guestReady, running int
	for _, s := range r.byUID {
		if s.created.IsZero() {
			continue
		}
		created++
		for _, c := range []struct {
			t *time.Time
			n *int
		}{{&s.bound, &bound}, {&s.added, &added}, {&s.started, &started}, {&s.guestUp, &guestUp}, {&s.guestReady, &guestReady}, {&s.running, &running}} {
			if !c.t.IsZero() {
				*c.n++
			}
		}
	}
	return fmt.Sprintf("%d created, %d bound, %d runtime machines, %d started, %d GUEST-UP, %d GUEST-READY, %d Running", created, bound, added, started, guestUp, guestReady, running)
}

// machineSeen records what a Machine in the Machine watch shows.
func (r *recorder) machineSeen(m *computev1alpha1.Machine, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.at(m.UID)
	if m.Spec.MachinePoolRef != nil {
		r.mark(&s.bound, now)
	}
	if m.Status.State == computev1alpha1.MachineStateRunning {
		r.mark(&s.running, now)
	}
}

// runtimeID links a runtime machine to its Machine through the poollet's UID label.
func (r *recorder) runtimeID(id string, labels map[string]string) (*stamps, bool) {
	uid, ok := r.uidOf[id]
	if !ok {
		if uid = types.UID(labels[machine.LabelMachineUID]); uid == "" {
			return nil, false
		}
		r.uidOf[id] = uid
	}
	s := r.at(uid)
	s.runtimeID = id
	return s, true
}
