package main

import (
	"context"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	typedcompute "github.com/ferrite-dev/ferrite/generated/clientset/versioned/typed/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// The running phase's observers: the Machines through a watch on the API, the runtime machines
// and their events through the provider's Watch, and the consoles through ReadConsoleLog. Each
// stamps what it sees with the time it received it.

// watchMachines follows the namespace's Machines from resourceVersion until ctx ends; a watch
// the server ends is resumed from a fresh list.
func (r *recorder) watchMachines(ctx context.Context, machines typedcompute.MachineInterface, resourceVersion string) {
	for ctx.Err() == nil {
		w, err := machines.Watch(ctx, metav1.ListOptions{ResourceVersion: resourceVersion, AllowWatchBookmarks: true})
		if err == nil {
			resourceVersion = r.machineEvents(ctx, w)
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
		list, err := machines.List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		now := time.Now()
		for i := range list.Items {
			r.machineSeen(&list.Items[i], now)
		}
		resourceVersion = list.ResourceVersion
	}
}

// machineEvents records a watch's events until it ends, and returns the last resource version.
func (r *recorder) machineEvents(ctx context.Context, w watch.Interface) string {
	defer w.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return last
		case ev, ok := <-w.ResultChan():
			if !ok {
				return last
			}
			m, isMachine := ev.Object.(*computev1alpha1.Machine)
			if !isMachine {
				return last
			}
			last = m.ResourceVersion
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				r.machineSeen(m, time.Now())
			}
		}
	}
}

// watchRuntime lists the provider's machines and follows its Watch from there (in a goroutine
// of wg) until ctx ends, resuming from a fresh list when the stream breaks.
func (r *recorder) watchRuntime(ctx context.Context, wg *sync.WaitGroup, client runtimev1alpha1.MachineRuntimeClient) error {
	list, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		return err
	}
	wg.Go(func() {
		revision := list.GetRevision()
		for ctx.Err() == nil {
			revision = r.runtimeChanges(ctx, client, revision)
			if ctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			list, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
			if err != nil {
				continue
			}
			now := time.Now()
			for _, m := range list.GetMachines() {
				r.runtimeMachineSeen(m, now)
			}
			revision = list.GetRevision()
		}
	})
	return nil
}

// runtimeChanges records one Watch stream's changes until it ends, and returns the last
// revision received.
func (r *recorder) runtimeChanges(ctx context.Context, client runtimev1alpha1.MachineRuntimeClient, revision uint64) uint64 {
	stream, err := client.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: revision})
	if err != nil {
		return revision
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return revision
		}
		revision = resp.GetRevision()
		now := time.Now()
		if change := resp.GetMachine(); change != nil && change.GetType() != runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED {
			r.runtimeMachineSeen(change.GetMachine(), now)
		}
		if ev := resp.GetEvent(); ev != nil {
			r.runtimeEvent(ev, now)
		}
	}
}

// runtimeMachineSeen records what a runtime machine (added, modified, or listed after a broken
// stream) shows: that it exists, its pending reason
// (ImagePulling while the image is pulled, Preparing after it), and its state RUNNING.
func (r *recorder) runtimeMachineSeen(m *runtimev1alpha1.Machine, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.runtimeID(m.GetMetadata().GetId(), m.GetMetadata().GetLabels())
	if !ok {
		return
	}
	r.mark(&s.added, now)
	st := m.GetStatus()
	switch st.GetReason() {
	case "ImagePulling":
		r.mark(&s.pulling, now)
	case "Preparing":
		r.mark(&s.pulled, now)
	}
	if st.GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		r.mark(&s.started, now)
	}
}

// runtimeEvent records the provider's Defined event.
func (r *recorder) runtimeEvent(ev *runtimev1alpha1.Event, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	uid, ok := r.uidOf[ev.GetMachineId()]
	if !ok {
		return
	}
	s := r.at(uid)
	switch ev.GetReason() {
	case "Defined":
		r.mark(&s.defined, now)
	case "Started":
		r.mark(&s.started, now)
	}
}

// pollConsoles reads the console log of every started runtime machine that has not shown
// GUEST-READY, every interval, until ctx ends.
func (r *recorder) pollConsoles(ctx context.Context, client runtimev1alpha1.MachineRuntimeClient, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		r.mu.Lock()
		var ids []string
		for id, uid := range r.uidOf {
			if s := r.byUID[uid]; s.guestReady.IsZero() && !s.started.IsZero() {
				ids = append(ids, id)
			}
		}
		r.mu.Unlock()
		for _, id := range ids {
			resp, err := client.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: id})
			if err != nil {
				continue
			}
			now := time.Now()
			r.mu.Lock()
			s := r.byUID[r.uidOf[id]]
			if resp.GetTotalBytes() > 0 {
				r.mark(&s.consoleFirst, now)
			}
			if strings.Contains(string(resp.GetData()), "GUEST-UP") {
				r.mark(&s.guestUp, now)
			}
			if strings.Contains(string(resp.GetData()), "GUEST-READY") {
				r.mark(&s.guestReady, now)
			}
			r.mu.Unlock()
		}
	}
}

// runtimeMachineCount is how many machines the provider has.
func runtimeMachineCount(ctx context.Context, sys *runningSystem) (int, error) {
	list, err := sys.runtime.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		return 0, err
	}
	return len(list.GetMachines()), nil
}
