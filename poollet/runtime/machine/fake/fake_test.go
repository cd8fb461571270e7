package fake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/fake"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

const (
	gib = 1 << 30
	mib = 1 << 20
)

// start serves a fake runtime on a unix socket in a new temporary directory and returns it with a
// gRPC client connected through that socket.
func start(t *testing.T, opts fake.Options) (*fake.Server, runtimev1alpha1.MachineRuntimeClient) {
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "fakert")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	server := fake.New(opts)
	stop, err := server.Serve(filepath.Join(dir, "runtime.sock"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "runtime.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		stop()
	})
	return server, runtimev1alpha1.NewMachineRuntimeClient(conn)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newMachine(id string) *runtimev1alpha1.Machine {
	return &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{
			Id: id,
			Labels: map[string]string{
				"machinepoollet.ferrite.dev/machine-uid":       id,
				"machinepoollet.ferrite.dev/machine-namespace": "default",
				"machinepoollet.ferrite.dev/machine-name":      "vm-" + id,
			},
		},
		Spec: &runtimev1alpha1.MachineSpec{
			Class:     "small",
			Resources: &runtimev1alpha1.MachineResources{Vcpus: 2, MemoryBytes: 4 * gib},
			RootDisk:  &runtimev1alpha1.RootDisk{Image: "registry.test/os/debian:13", SizeBytes: 10 * gib},
			UserData:  &runtimev1alpha1.UserData{Data: []byte(`{"ignition":{"version":"3.4.0"}}`)},
		},
	}
}

func create(t *testing.T, client runtimev1alpha1.MachineRuntimeClient, m *runtimev1alpha1.Machine) *runtimev1alpha1.Machine {
	t.Helper()
	resp, err := client.CreateMachine(ctxFor(t), &runtimev1alpha1.CreateMachineRequest{Machine: m})
	if err != nil {
		t.Fatalf("create %s: %v", m.GetMetadata().GetId(), err)
	}
	return resp.GetMachine()
}

func get(t *testing.T, client runtimev1alpha1.MachineRuntimeClient, id string) *runtimev1alpha1.Machine {
	t.Helper()
	resp, err := client.ListMachines(ctxFor(t), &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{Id: id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetMachines()) != 1 {
		t.Fatalf("machine %s: listed %d machines", id, len(resp.GetMachines()))
	}
	return resp.GetMachines()[0]
}

// watcher reads a Watch stream in the background.
type watcher struct {
	t       *testing.T
	cancel  context.CancelFunc
	changes chan *runtimev1alpha1.WatchResponse
	err     chan error
}

func watch(t *testing.T, client runtimev1alpha1.MachineRuntimeClient, from uint64) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxFor(t))
	stream, err := client.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: from})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &watcher{t: t, cancel: cancel, changes: make(chan *runtimev1alpha1.WatchResponse, 1000), err: make(chan error, 1)}
	go func() {
		for {
			change, err := stream.Recv()
			if err != nil {
				w.err <- err
				return
			}
			w.changes <- change
		}
	}()
	t.Cleanup(cancel)
	return w
}

// next returns the next change, failing the test after 10 s.
func (w *watcher) next() *runtimev1alpha1.WatchResponse {
	w.t.Helper()
	select {
	case c := <-w.changes:
		return c
	case err := <-w.err:
		w.t.Fatalf("watch ended: %v", err)
	case <-time.After(10 * time.Second):
		w.t.Fatal("no change within 10s")
	}
	return nil
}

// until returns the changes up to and including the first one that done accepts.
func (w *watcher) until(done func(*runtimev1alpha1.WatchResponse) bool) []*runtimev1alpha1.WatchResponse {
	w.t.Helper()
	var seen []*runtimev1alpha1.WatchResponse
	for {
		c := w.next()
		seen = append(seen, c)
		if done(c) {
			return seen
		}
	}
}

// untilState waits for a change of machine id into state.
func (w *watcher) untilState(id string, state runtimev1alpha1.MachineState) *runtimev1alpha1.Machine {
	w.t.Helper()
	seen := w.until(func(c *runtimev1alpha1.WatchResponse) bool {
		m := c.GetMachine().GetMachine()
		return m.GetMetadata().GetId() == id && m.GetStatus().GetState() == state
	})
	return seen[len(seen)-1].GetMachine().GetMachine()
}

// quiet fails when a change arrives within d.
func (w *watcher) quiet(d time.Duration) {
	w.t.Helper()
	select {
	case c := <-w.changes:
		w.t.Fatalf("unexpected change %v", c)
	case <-time.After(d):
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	server, client := start(t, fake.Options{})
	ctx := ctxFor(t)

	first, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: newMachine("uid-1")})
	if err != nil {
		t.Fatal(err)
	}
	if !first.GetCreated() || first.GetMachine().GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		t.Fatalf("first create: created=%v state=%v, want a created running machine", first.GetCreated(), first.GetMachine().GetStatus().GetState())
	}
	revision := server.Revision()

	// A retry, even one with another spec, returns the existing machine unchanged.
	retry := newMachine("uid-1")
	retry.Spec.Class = "large"
	retry.Spec.Resources.Vcpus = 16
	again, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: retry})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetCreated() {
		t.Fatal("second create reported created=true")
	}
	if !proto.Equal(again.GetMachine(), first.GetMachine()) {
		t.Fatalf("second create returned\n%v\nwant the existing\n%v", again.GetMachine(), first.GetMachine())
	}
	if server.Revision() != revision {
		t.Fatalf("a repeated create changed the revision from %d to %d", revision, server.Revision())
	}

	// Concurrent creates of one new ID make one machine.
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: newMachine("uid-2")})
			if err != nil {
				t.Error(err)
				return
			}
			if resp.GetCreated() {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("16 concurrent creates of one ID created %d machines", created)
	}
	list, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetMachines()) != 2 {
		t.Fatalf("listed %d machines, want 2", len(list.GetMachines()))
	}

	// The label filter finds a machine by its API object's name.
	byName, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{Filter: &runtimev1alpha1.MachineFilter{
		LabelSelector: map[string]string{"machinepoollet.ferrite.dev/machine-name": "vm-uid-2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(byName.GetMachines()) != 1 || byName.GetMachines()[0].GetMetadata().GetId() != "uid-2" {
		t.Fatalf("label filter listed %v", byName.GetMachines())
	}
}

func TestCreateValidatesAndChecksCapacity(t *testing.T) {
	_, client := start(t, fake.Options{Capacity: capacity.Resources{VCPUs: 4, MemoryBytes: 8 * gib}})
	ctx := ctxFor(t)

	bad := newMachine("bad id")
	if _, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: bad}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an ID with a space: %v, want InvalidArgument", err)
	}
	noMemory := newMachine("no-memory")
	noMemory.Spec.Resources.MemoryBytes = 0
	if _, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: noMemory}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no memory: %v, want InvalidArgument", err)
	}
	create(t, client, newMachine("a"))
	create(t, client, newMachine("b"))
	if _, err := client.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: newMachine("c")}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a third machine on a full host: %v, want ResourceExhausted", err)
	}
}

func TestWatchResumesAfterRevisions(t *testing.T) {
	_, client := start(t, fake.Options{})
	ctx := ctxFor(t)

	list, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, client, list.GetRevision())
	for i := range 3 {
		create(t, client, newMachine(fmt.Sprintf("m%d", i)))
	}
	// Read the first N changes, then stop watching.
	const n = 5
	var got []*runtimev1alpha1.WatchResponse
	for range n {
		got = append(got, w.next())
	}
	w.cancel()
	resumeFrom := got[n-1].GetRevision()

	// More changes while nobody watches.
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m0", Power: runtimev1alpha1.Power_POWER_OFF}); err != nil {
		t.Fatal(err)
	}
	create(t, client, newMachine("m3"))
	current := get(t, client, "m3").GetMetadata().GetRevision()

	// The resumed watch delivers exactly what came after resumeFrom, in order.
	resumed := watch(t, client, resumeFrom)
	rest := resumed.until(func(c *runtimev1alpha1.WatchResponse) bool { return c.GetRevision() >= current })
	got = append(got, rest...)

	// A fresh watch from the list's revision sees the same sequence: nothing lost, nothing twice.
	all := watch(t, client, list.GetRevision()).until(func(c *runtimev1alpha1.WatchResponse) bool { return c.GetRevision() >= current })
	if len(all) != len(got) {
		t.Fatalf("a watch resumed after %d changes saw %d in all, an uninterrupted one %d", n, len(got), len(all))
	}
	for i := range all {
		if !proto.Equal(all[i], got[i]) {
			t.Fatalf("change %d differs:\nresumed %v\nuninterrupted %v", i, got[i], all[i])
		}
		if i > 0 && all[i].GetRevision() <= all[i-1].GetRevision() {
			t.Fatalf("revisions do not grow: %d after %d", all[i].GetRevision(), all[i-1].GetRevision())
		}
	}
	// What the watch delivered ends with m0 stopped and m3 running, the machines' current states.
	var m0State runtimev1alpha1.MachineState
	var events int
	for _, c := range got {
		if m := c.GetMachine().GetMachine(); m.GetMetadata().GetId() == "m0" {
			m0State = m.GetStatus().GetState()
		}
		if c.GetEvent() != nil {
			events++
		}
	}
	if m0State != runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED {
		t.Fatalf("the watch's last state of m0 is %v, want STOPPED", m0State)
	}
	if events == 0 {
		t.Fatal("the watch delivered no events")
	}
}

func TestWatchRevisionTooOld(t *testing.T) {
	server, client := start(t, fake.Options{HistoryLimit: 4})
	ctx := ctxFor(t)
	for i := range 5 {
		create(t, client, newMachine(fmt.Sprintf("m%d", i)))
	}
	current := server.Revision()

	expectTooOld := func(from uint64) *runtimev1alpha1.RevisionTooOld {
		t.Helper()
		stream, err := client.Watch(ctx, &runtimev1alpha1.WatchRequest{FromRevision: from})
		if err != nil {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		detail, ok := runtimev1alpha1.AsRevisionTooOld(err)
		if !ok {
			t.Fatalf("watch from %d: %v, want OUT_OF_RANGE with a RevisionTooOld detail", from, err)
		}
		return detail
	}
	detail := expectTooOld(1)
	if detail.GetRequestedRevision() != 1 || detail.GetCurrentRevision() != current || detail.GetOldestRevision() != current-4 {
		t.Fatalf("detail %v, want requested 1, oldest %d, current %d", detail, current-4, current)
	}
	// A revision from the future (a runtime that lost its state) is refused the same way.
	expectTooOld(current + 100)

	// The oldest retained revision still works, and resync from a list always does.
	oldest := watch(t, client, detail.GetOldestRevision())
	if c := oldest.next(); c.GetRevision() != detail.GetOldestRevision()+1 {
		t.Fatalf("watch from the oldest revision began at %d, want %d", c.GetRevision(), detail.GetOldestRevision()+1)
	}
	list, err := client.ListMachines(ctx, &runtimev1alpha1.ListMachinesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetMachines()) != 5 || list.GetRevision() != current {
		t.Fatalf("resync listed %d machines at revision %d, want 5 at %d", len(list.GetMachines()), list.GetRevision(), current)
	}
	resync := watch(t, client, list.GetRevision())
	create(t, client, newMachine("m5"))
	if c := resync.next(); c.GetMachine().GetMachine().GetMetadata().GetId() != "m5" || c.GetRevision() != current+1 {
		t.Fatalf("after resync: %v, want m5 added at %d", c, current+1)
	}
	// Neither a too-old revision error nor anything else is an OUT_OF_RANGE without the detail.
	if _, ok := runtimev1alpha1.AsRevisionTooOld(status.Error(codes.OutOfRange, "other")); ok {
		t.Fatal("AsRevisionTooOld accepted a status without the detail")
	}
}

func TestWatchProgress(t *testing.T) {
	server, client := start(t, fake.Options{})
	create(t, client, newMachine("m"))
	stream, err := client.Watch(ctxFor(t), &runtimev1alpha1.WatchRequest{FromRevision: server.Revision(), ProgressInterval: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if c.GetProgress() == nil || c.GetRevision() != server.Revision() {
		t.Fatalf("got %v, want progress at revision %d", c, server.Revision())
	}
}

func TestPowerOffAndOn(t *testing.T) {
	server, client := start(t, fake.Options{})
	ctx := ctxFor(t)
	m := create(t, client, newMachine("m"))
	w := watch(t, client, m.GetMetadata().GetRevision())

	// Graceful: the guest shuts down.
	resp, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_OFF})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMachine().GetSpec().GetPower() != runtimev1alpha1.Power_POWER_OFF {
		t.Fatalf("spec.power is %v after POWER_OFF", resp.GetMachine().GetSpec().GetPower())
	}
	stopped := w.untilState("m", runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if stopped.GetStatus().GetReason() != "PoweredOff" || stopped.GetStatus().GetObservedGeneration() != stopped.GetMetadata().GetGeneration() {
		t.Fatalf("stopped machine status %v", stopped.GetStatus())
	}
	// Repeating it changes nothing.
	before := server.Revision()
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_OFF}); err != nil {
		t.Fatal(err)
	}
	if server.Revision() != before {
		t.Fatal("a repeated POWER_OFF made a change")
	}

	// On again: a second boot.
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	running := w.untilState("m", runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING)
	if running.GetStatus().GetBootCount() != 2 {
		t.Fatalf("boot count %d after power on, want 2", running.GetStatus().GetBootCount())
	}

	// A guest that ignores the shutdown is forced off after the caller's timeout.
	if err := server.IgnoreShutdown("m", true); err != nil {
		t.Fatal(err)
	}
	requested := time.Now()
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{
		MachineId: "m", Power: runtimev1alpha1.Power_POWER_OFF, ShutdownTimeout: durationpb.New(300 * time.Millisecond),
	}); err != nil {
		t.Fatal(err)
	}
	if state := get(t, client, "m").GetStatus().GetState(); state != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		t.Fatalf("state %v right after a shutdown the guest ignores, want RUNNING", state)
	}
	w.untilState("m", runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if waited := time.Since(requested); waited < 300*time.Millisecond {
		t.Fatalf("forced off after %s, before the 300ms timeout", waited)
	}
	if ev := w.next().GetEvent(); ev.GetReason() != "ShutdownTimeout" || ev.GetType() != runtimev1alpha1.EventType_EVENT_TYPE_WARNING {
		t.Fatalf("event %v after the forced off, want a ShutdownTimeout warning", ev)
	}
	if got := get(t, client, "m").GetStatus(); got.GetReason() != "ForcedOff" {
		t.Fatalf("reason %q after the timeout, want ForcedOff", got.GetReason())
	}

	// A zero timeout forces the machine off at once.
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{
		MachineId: "m", Power: runtimev1alpha1.Power_POWER_OFF, ShutdownTimeout: durationpb.New(0),
	}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, client, "m").GetStatus(); got.GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED || got.GetReason() != "ForcedOff" {
		t.Fatalf("after a zero timeout: %v %q, want STOPPED ForcedOff", got.GetState(), got.GetReason())
	}

	// A guest that powers itself off stays off until POWER_ON is asked again.
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	if err := server.GuestShutdown("m"); err != nil {
		t.Fatal(err)
	}
	got := get(t, client, "m")
	if got.GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED || got.GetStatus().GetReason() != "GuestShutdown" ||
		got.GetSpec().GetPower() != runtimev1alpha1.Power_POWER_ON {
		t.Fatalf("after a guest shutdown: state %v reason %q power %v", got.GetStatus().GetState(), got.GetStatus().GetReason(), got.GetSpec().GetPower())
	}
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_ON}); err != nil {
		t.Fatal(err)
	}
	if state := get(t, client, "m").GetStatus().GetState(); state != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
		t.Fatalf("POWER_ON after a guest shutdown left %v", state)
	}
}

func TestCreatePoweredOffAndStartDelay(t *testing.T) {
	_, client := start(t, fake.Options{StartDelay: 100 * time.Millisecond})
	off := newMachine("off")
	off.Spec.Power = runtimev1alpha1.Power_POWER_OFF
	m := create(t, client, off)
	if m.GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_PENDING {
		t.Fatalf("state %v right after create with a start delay, want PENDING", m.GetStatus().GetState())
	}
	w := watch(t, client, m.GetMetadata().GetRevision())
	stopped := w.untilState("off", runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED)
	if stopped.GetStatus().GetBootCount() != 0 || stopped.GetStatus().GetRootDisk().GetState() != runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED {
		t.Fatalf("a machine created powered off: %v", stopped.GetStatus())
	}
}

func TestReboot(t *testing.T) {
	server, client := start(t, fake.Options{})
	ctx := ctxFor(t)
	create(t, client, newMachine("m"))
	for range 2 {
		resp, err := client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: "m", RebootId: "restart-1"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetMachine().GetStatus().GetBootCount() != 2 || resp.GetMachine().GetStatus().GetLastRebootId() != "restart-1" {
			t.Fatalf("after reboot restart-1: %v", resp.GetMachine().GetStatus())
		}
	}
	// A guest that ignores the reboot is reset after the timeout.
	if err := server.IgnoreShutdown("m", true); err != nil {
		t.Fatal(err)
	}
	w := watch(t, client, server.Revision())
	if _, err := client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{
		MachineId: "m", RebootId: "restart-2", ShutdownTimeout: durationpb.New(100 * time.Millisecond),
	}); err != nil {
		t.Fatal(err)
	}
	w.until(func(c *runtimev1alpha1.WatchResponse) bool { return c.GetEvent().GetReason() == "RebootTimeout" })
	if got := get(t, client, "m").GetStatus().GetBootCount(); got != 3 {
		t.Fatalf("boot count %d after a forced reboot, want 3", got)
	}
	// Only a running machine reboots.
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m", Power: runtimev1alpha1.Power_POWER_OFF, ShutdownTimeout: durationpb.New(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RebootMachine(ctx, &runtimev1alpha1.RebootMachineRequest{MachineId: "m", RebootId: "restart-3"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("reboot of a stopped machine: %v, want FailedPrecondition", err)
	}
}

func TestDelete(t *testing.T) {
	server, client := start(t, fake.Options{})
	ctx := ctxFor(t)
	m := create(t, client, newMachine("m"))
	if err := server.IgnoreShutdown("m", true); err != nil {
		t.Fatal(err)
	}
	w := watch(t, client, m.GetMetadata().GetRevision())
	resp, err := client.DeleteMachine(ctx, &runtimev1alpha1.DeleteMachineRequest{MachineId: "m", ShutdownTimeout: durationpb.New(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMachine().GetStatus().GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING || resp.GetMachine().GetMetadata().GetDeleteTime() == nil {
		t.Fatalf("delete returned %v", resp.GetMachine())
	}
	// While terminating the machine is listed, holds its resources and refuses changes.
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("power on while terminating: %v, want FailedPrecondition", err)
	}
	st, err := client.Status(ctx, &runtimev1alpha1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetAllocated().GetVcpus() != 2 {
		t.Fatalf("a terminating machine holds %d vCPUs, want 2", st.GetAllocated().GetVcpus())
	}
	w.until(func(c *runtimev1alpha1.WatchResponse) bool {
		return c.GetMachine().GetType() == runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED
	})
	// Deleting again, or an ID that never existed, succeeds with no machine.
	for _, id := range []string{"m", "never"} {
		resp, err := client.DeleteMachine(ctx, &runtimev1alpha1.DeleteMachineRequest{MachineId: id})
		if err != nil || resp.GetMachine() != nil {
			t.Fatalf("delete of %s: %v %v, want an empty success", id, resp, err)
		}
	}
	if _, err := client.SetMachinePower(ctx, &runtimev1alpha1.SetMachinePowerRequest{MachineId: "m"}); status.Code(err) != codes.NotFound {
		t.Fatalf("power on a deleted machine: %v, want NotFound", err)
	}
	// The ID can be used again (a new create).
	if again := create(t, client, newMachine("m")); again.GetMetadata().GetGeneration() != 1 {
		t.Fatalf("re-created machine has generation %d", again.GetMetadata().GetGeneration())
	}
}

func rbdVolume(name string, size uint64, keyID, key string) *runtimev1alpha1.Volume {
	return &runtimev1alpha1.Volume{
		Name: name,
		Source: &runtimev1alpha1.Volume_NetworkDisk{NetworkDisk: &runtimev1alpha1.NetworkDisk{
			SizeBytes: size,
			Access: &runtimev1alpha1.NetworkDisk_Rbd{Rbd: &runtimev1alpha1.RBDAccess{
				Monitors: []string{"127.0.0.1:3300"},
				Pool:     "rbd",
				Image:    "volume-" + name,
				User:     "tenant-a",
				Key:      &runtimev1alpha1.SecretKey{Id: keyID, Data: []byte(key)},
			}},
		}},
	}
}

func TestVolumes(t *testing.T) {
	server, client := start(t, fake.Options{})
	ctx := ctxFor(t)
	create(t, client, newMachine("m"))

	attach := func(v *runtimev1alpha1.Volume) (*runtimev1alpha1.Machine, error) {
		resp, err := client.AttachVolume(ctx, &runtimev1alpha1.AttachVolumeRequest{MachineId: "m", Volume: v})
		return resp.GetMachine(), err
	}
	m, err := attach(rbdVolume("data", 20*gib, "vol-data/1", "secret-1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.GetStatus().GetVolumes()) != 1 || m.GetStatus().GetVolumes()[0].GetDevice() != "vdb" ||
		m.GetStatus().GetVolumes()[0].GetState() != runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED {
		t.Fatalf("volume status %v", m.GetStatus().GetVolumes())
	}
	if key := m.GetSpec().GetVolumes()[0].GetNetworkDisk().GetRbd().GetKey(); key.GetId() != "vol-data/1" || len(key.GetData()) != 0 {
		t.Fatalf("the returned spec carries the key %v: the data must be left out", key)
	}
	// Attaching the same again is a no-op; something else under the name is refused.
	before := server.Revision()
	if _, err := attach(rbdVolume("data", 20*gib, "vol-data/1", "secret-1")); err != nil {
		t.Fatal(err)
	}
	if server.Revision() != before {
		t.Fatal("a repeated attach made a change")
	}
	if _, err := attach(rbdVolume("data", 20*gib, "vol-other/1", "x")); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("another volume under a taken name: %v, want AlreadyExists", err)
	}
	scratch := &runtimev1alpha1.Volume{Name: "scratch", Source: &runtimev1alpha1.Volume_EmptyDisk{EmptyDisk: &runtimev1alpha1.EmptyDisk{SizeBytes: gib}}}
	if m, err = attach(scratch); err != nil {
		t.Fatal(err)
	}
	if d := m.GetStatus().GetVolumes()[1].GetDevice(); d != "vdc" {
		t.Fatalf("second volume on %s, want vdc", d)
	}

	update := func(v *runtimev1alpha1.Volume) (*runtimev1alpha1.Machine, error) {
		resp, err := client.UpdateVolume(ctx, &runtimev1alpha1.UpdateVolumeRequest{MachineId: "m", Volume: v})
		return resp.GetMachine(), err
	}
	// Grow and rotate the credentials in place.
	if m, err = update(rbdVolume("data", 30*gib, "vol-data/2", "secret-2")); err != nil {
		t.Fatal(err)
	}
	if st := m.GetStatus().GetVolumes()[0]; st.GetSizeBytes() != 30*gib || st.GetKeyId() != "vol-data/2" || st.GetDevice() != "vdb" {
		t.Fatalf("after the update: %v", st)
	}
	if data, ok := server.Secret("m", "vol-data/2"); !ok || string(data) != "secret-2" {
		t.Fatalf("the runtime holds %q for the new key", data)
	}
	if _, ok := server.Secret("m", "vol-data/1"); ok {
		t.Fatal("the runtime still holds the rotated-out key")
	}
	// What cannot change in place.
	if _, err := update(rbdVolume("data", 10*gib, "vol-data/2", "secret-2")); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("shrink: %v, want FailedPrecondition", err)
	}
	other := rbdVolume("data", 30*gib, "vol-data/2", "secret-2")
	other.GetNetworkDisk().GetRbd().Image = "another-image"
	if _, err := update(other); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("another image: %v, want FailedPrecondition", err)
	}
	if _, err := update(&runtimev1alpha1.Volume{Name: "data", Source: scratch.Source}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("another source kind: %v, want FailedPrecondition", err)
	}
	if _, err := update(&runtimev1alpha1.Volume{Name: "nope", Source: scratch.Source}); status.Code(err) != codes.NotFound {
		t.Fatalf("update of a missing volume: %v, want NotFound", err)
	}

	// Detach, twice.
	for range 2 {
		resp, err := client.DetachVolume(ctx, &runtimev1alpha1.DetachVolumeRequest{MachineId: "m", Name: "data"})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetMachine().GetStatus().GetVolumes()); n != 1 {
			t.Fatalf("%d volumes after the detach, want 1", n)
		}
	}
}

func TestNetworkInterfaceUpdatesInPlace(t *testing.T) {
	server, client := start(t, fake.Options{})
	ctx := ctxFor(t)
	create(t, client, newMachine("m"))
	nic := &runtimev1alpha1.NetworkInterface{
		Name:       "eth0",
		Ips:        []string{"10.0.0.5"},
		Attributes: map[string]string{"vni": "100"},
	}
	resp, err := client.AttachNetworkInterface(ctx, &runtimev1alpha1.AttachNetworkInterfaceRequest{MachineId: "m", NetworkInterface: nic})
	if err != nil {
		t.Fatal(err)
	}
	attached := resp.GetMachine().GetStatus().GetNetworkInterfaces()[0]
	if attached.GetMacAddress() == "" || attached.GetTapName() == "" || len(attached.GetTapName()) > 15 {
		t.Fatalf("attached interface %v: want a chosen MAC and tap name", attached)
	}

	w := watch(t, client, server.Revision())
	changed := proto.Clone(nic).(*runtimev1alpha1.NetworkInterface)
	changed.Ips = []string{"10.0.0.5", "fd00::5"}
	changed.Attributes["security-group"] = "web"
	up, err := client.UpdateNetworkInterface(ctx, &runtimev1alpha1.UpdateNetworkInterfaceRequest{MachineId: "m", NetworkInterface: changed})
	if err != nil {
		t.Fatal(err)
	}
	now := up.GetMachine().GetStatus().GetNetworkInterfaces()[0]
	if now.GetMacAddress() != attached.GetMacAddress() || now.GetTapName() != attached.GetTapName() || len(now.GetIps()) != 2 {
		t.Fatalf("after the update %v, before %v: want the same device with two IPs", now, attached)
	}
	if got := up.GetMachine().GetSpec().GetNetworkInterfaces()[0].GetAttributes()["security-group"]; got != "web" {
		t.Fatalf("attribute security-group is %q", got)
	}
	// One modification and one event: an update, not a detach and an attach.
	for _, c := range []*runtimev1alpha1.WatchResponse{w.next(), w.next()} {
		if reason := c.GetEvent().GetReason(); c.GetEvent() != nil && reason != "NetworkInterfaceUpdated" {
			t.Fatalf("event %q for an attribute change", reason)
		}
	}
	w.quiet(100 * time.Millisecond)

	changed.MacAddress = "02:00:00:00:00:99"
	if _, err := client.UpdateNetworkInterface(ctx, &runtimev1alpha1.UpdateNetworkInterfaceRequest{MachineId: "m", NetworkInterface: changed}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a MAC change: %v, want FailedPrecondition", err)
	}
	for range 2 {
		resp, err := client.DetachNetworkInterface(ctx, &runtimev1alpha1.DetachNetworkInterfaceRequest{MachineId: "m", Name: "eth0"})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetMachine().GetStatus().GetNetworkInterfaces()); n != 0 {
			t.Fatalf("%d interfaces after the detach", n)
		}
	}
}

func TestStatus(t *testing.T) {
	_, client := start(t, fake.Options{
		Capacity:           capacity.Resources{VCPUs: 16, MemoryBytes: 64 * gib, HugePages: map[uint64]uint64{2 * mib: 4096, gib: 4}},
		Reserved:           capacity.Resources{VCPUs: 2, MemoryBytes: 4 * gib},
		CPUOvercommitRatio: 2,
	})
	ctx := ctxFor(t)
	create(t, client, newMachine("plain"))
	huge := newMachine("huge")
	huge.Spec.Resources = &runtimev1alpha1.MachineResources{Vcpus: 4, MemoryBytes: 2 * gib, HugepageSizeBytes: gib}
	create(t, client, huge)

	small := &runtimev1alpha1.MachineResources{Vcpus: 2, MemoryBytes: 4 * gib}
	pinned := &runtimev1alpha1.MachineResources{Vcpus: 2, MemoryBytes: 2 * gib, HugepageSizeBytes: gib}
	st, err := client.Status(ctx, &runtimev1alpha1.StatusRequest{Classes: []*runtimev1alpha1.MachineClass{
		{Name: "small", Resources: small}, {Name: "pinned", Resources: pinned},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if a := st.GetAllocatable(); a.GetVcpus() != 28 || a.GetMemoryBytes() != 60*gib {
		t.Fatalf("allocatable %v, want 28 vCPUs ((16-2)*2) and 60 GiB", a)
	}
	if a := st.GetAllocated(); a.GetVcpus() != 6 || a.GetMemoryBytes() != 4*gib || a.GetHugepages()[1].GetPages() != 2 {
		t.Fatalf("allocated %v, want 6 vCPUs, 4 GiB and two 1 GiB pages", a)
	}
	if c := st.GetCapacity(); len(c.GetHugepages()) != 2 || c.GetHugepages()[0].GetPageSizeBytes() != 2*mib {
		t.Fatalf("capacity %v, want both page sizes ascending", c)
	}
	// small: min(22 vCPUs / 2, 56 GiB / 4) = 11; pinned: min(22/2, 2 free 1 GiB pages / 2) = 1.
	if got := st.GetClasses(); got[0].GetAvailable() != 11 || got[1].GetAvailable() != 1 {
		t.Fatalf("classes %v, want small 11 and pinned 1", got)
	}
	if st.GetMachineCount() != 2 || st.GetOvercommit().GetCpuRatio() != 2 || st.GetOvercommit().GetMemoryRatio() != 1 {
		t.Fatalf("status %v", st)
	}
}

func TestConsoleScrollback(t *testing.T) {
	server, client := start(t, fake.Options{ConsoleLogBytes: 128})
	ctx := ctxFor(t)
	create(t, client, newMachine("m"))
	for i := range 10 {
		if err := server.WriteConsole("m", fmt.Appendf(nil, "line %02d of boot output\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	log, err := client.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if len(log.GetData()) != 128 || log.GetOffset()+128 != log.GetTotalBytes() || !bytes.HasSuffix(log.GetData(), []byte("line 09 of boot output\n")) {
		t.Fatalf("scrollback of %d bytes at offset %d of %d: %q", len(log.GetData()), log.GetOffset(), log.GetTotalBytes(), log.GetData())
	}
	tail, err := client.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: "m", TailBytes: 23})
	if err != nil {
		t.Fatal(err)
	}
	if string(tail.GetData()) != "line 09 of boot output\n" || tail.GetOffset() != tail.GetTotalBytes()-23 {
		t.Fatalf("last 23 bytes: %q at %d", tail.GetData(), tail.GetOffset())
	}

	// An open console begins with the scrollback asked for, then carries input and output.
	stream, err := client.Console(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Open{Open: &runtimev1alpha1.ConsoleOpen{MachineId: "m", ScrollbackBytes: 23}}}); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if string(first.GetOutput()) != "line 09 of boot output\n" {
		t.Fatalf("console began with %q", first.GetOutput())
	}
	if err := stream.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Resize{Resize: &runtimev1alpha1.ConsoleResize{Rows: 50, Columns: 120}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Input{Input: []byte("uname -a\n")}}); err != nil {
		t.Fatal(err)
	}
	echo, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if string(echo.GetOutput()) != "uname -a\n" {
		t.Fatalf("echo %q", echo.GetOutput())
	}
	// Guest output reaches the open console and the scrollback.
	if err := server.WriteConsole("m", []byte("Linux fake\n")); err != nil {
		t.Fatal(err)
	}
	if out, err := stream.Recv(); err != nil || string(out.GetOutput()) != "Linux fake\n" {
		t.Fatalf("output %q, %v", out.GetOutput(), err)
	}
	tail, err = client.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: "m", TailBytes: 20})
	if err != nil {
		t.Fatal(err)
	}
	if string(tail.GetData()) != "uname -a\nLinux fake\n" {
		t.Fatalf("scrollback ends with %q", tail.GetData())
	}

	// Deleting the machine ends the console.
	if _, err := client.DeleteMachine(ctx, &runtimev1alpha1.DeleteMachineRequest{MachineId: "m"}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("console ended with %v, want EOF", err)
		}
	}
	if _, err := client.ReadConsoleLog(ctx, &runtimev1alpha1.ReadConsoleLogRequest{MachineId: "m"}); status.Code(err) != codes.NotFound {
		t.Fatalf("scrollback of a deleted machine: %v, want NotFound", err)
	}
}

func TestEvents(t *testing.T) {
	_, client := start(t, fake.Options{})
	ctx := ctxFor(t)
	create(t, client, newMachine("a"))
	create(t, client, newMachine("b"))
	resp, err := client.ListEvents(ctx, &runtimev1alpha1.ListEventsRequest{MachineId: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range resp.GetEvents() {
		if ev.GetMachineId() != "b" {
			t.Fatalf("event of %s in a list for b", ev.GetMachineId())
		}
		reasons = append(reasons, ev.GetReason())
	}
	if fmt.Sprint(reasons) != "[Created Started]" {
		t.Fatalf("events of b: %v", reasons)
	}
	later, err := client.ListEvents(ctx, &runtimev1alpha1.ListEventsRequest{AfterRevision: resp.GetEvents()[0].GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	if len(later.GetEvents()) != 1 || later.GetEvents()[0].GetReason() != "Started" {
		t.Fatalf("events after b's creation: %v", later.GetEvents())
	}
}

// blockingStream is a Watch stream whose first Send blocks until release is closed: a watcher
// that stops reading.
type blockingStream struct {
	grpc.ServerStream
	ctx     context.Context
	entered chan struct{}
	once    sync.Once
	release chan struct{}
	mu      sync.Mutex
	sent    []*runtimev1alpha1.WatchResponse
}

func (b *blockingStream) Context() context.Context { return b.ctx }

func (b *blockingStream) Send(change *runtimev1alpha1.WatchResponse) error {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, change)
	return nil
}

func TestSlowWatcherGetsRevisionTooOld(t *testing.T) {
	server := fake.New(fake.Options{HistoryLimit: 4})
	defer server.Close()
	ctx := ctxFor(t)
	if _, err := server.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: newMachine("m0")}); err != nil {
		t.Fatal(err)
	}
	stream := &blockingStream{ctx: ctx, entered: make(chan struct{}), release: make(chan struct{})}
	result := make(chan error, 1)
	go func() { result <- server.Watch(&runtimev1alpha1.WatchRequest{FromRevision: 0}, stream) }()
	<-stream.entered

	// While the watcher is stuck, more changes than the history holds.
	for i := 1; i <= 2; i++ {
		if _, err := server.CreateMachine(ctx, &runtimev1alpha1.CreateMachineRequest{Machine: newMachine(fmt.Sprintf("m%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	close(stream.release)
	select {
	case err := <-result:
		detail, ok := runtimev1alpha1.AsRevisionTooOld(err)
		if !ok {
			t.Fatalf("the slow watcher ended with %v, want RevisionTooOld", err)
		}
		// It received a gapless prefix, then the status: nothing silently skipped.
		stream.mu.Lock()
		defer stream.mu.Unlock()
		for i, c := range stream.sent {
			if c.GetRevision() != uint64(i+1) {
				t.Fatalf("change %d has revision %d", i, c.GetRevision())
			}
		}
		if last := uint64(len(stream.sent)); last != 4 || detail.GetRequestedRevision() != last || detail.GetOldestRevision() <= last {
			t.Fatalf("detail %v after %d changes", detail, last)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slow watcher did not end")
	}
}
