// Package fake is an in-memory machine runtime: a MachineRuntime gRPC server that keeps machines
// in memory and behaves as the interface requires of a real provider — idempotent create by the
// caller's ID, a revision for every change, Watch with resume and RevisionTooOld, power states that
// change (graceful shutdown, forced after the timeout), attach, detach and in-place updates,
// capacity accounting and a console with scrollback. The machinepoollet's tests run against it.
//
// The guest is simulated: it shuts down when asked unless IgnoreShutdown says otherwise, echoes
// console input back, prints a line on every boot and power-off, and can be made to power itself
// off (GuestShutdown) or fail (Fail).
package fake

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ferrite-dev/ferrite/poollet/runtime/history"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
	"github.com/ferrite-dev/ferrite/poollet/runtime/socket"
)

// RuntimeName is what Version reports as the runtime's name.
const RuntimeName = "fake"

// Options configure a Server. The zero value is usable: every field has a default.
type Options struct {
	// Capacity is the host's raw resources. Default: 64 vCPUs and 256 GiB, no huge pages.
	Capacity capacity.Resources
	// Reserved is kept back for the host. Default: nothing.
	Reserved capacity.Resources
	// CPUOvercommitRatio and MemoryOvercommitRatio scale the vCPUs and memory machines may hold
	// (after the reserve). Default (and anything below 1): 1, no overcommit.
	CPUOvercommitRatio, MemoryOvercommitRatio float64
	// HistoryLimit is how many changes (machine changes and events) Watch can replay. Default 1000.
	HistoryLimit int
	// EventLimit is how many events ListEvents returns at most. Default 1000.
	EventLimit int
	// ConsoleLogBytes is how much console output each machine retains. Default 64 KiB.
	ConsoleLogBytes int
	// ShutdownTimeout applies when a request leaves shutdown_timeout unset. Default 1 minute.
	ShutdownTimeout time.Duration
	// StartDelay is how long a new machine stays pending before it runs (or stops, for POWER_OFF).
	// 0: it runs before CreateMachine returns.
	StartDelay time.Duration
	// InitialRevision is the revision of the empty runtime; the first change gets the next one.
	// A test simulating a provider that lost its state uses it.
	InitialRevision uint64
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Capacity.VCPUs == 0 && o.Capacity.MemoryBytes == 0 && len(o.Capacity.HugePages) == 0 {
		o.Capacity = capacity.Resources{VCPUs: 64, MemoryBytes: 256 << 30}
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = 1000
	}
	if o.EventLimit <= 0 {
		o.EventLimit = 1000
	}
	if o.ConsoleLogBytes <= 0 {
		o.ConsoleLogBytes = 64 << 10
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = time.Minute
	}
	if o.CPUOvercommitRatio < 1 {
		o.CPUOvercommitRatio = 1
	}
	if o.MemoryOvercommitRatio < 1 {
		o.MemoryOvercommitRatio = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is the in-memory runtime. Register it on a grpc.Server (Register) or let Serve do both.
type Server struct {
	runtimev1alpha1.UnimplementedMachineRuntimeServer

	opts Options

	// history numbers and retains the changes. Changes are recorded under mu, so a list and its
	// revision agree.
	history history.Machines

	mu       sync.Mutex
	machines map[string]*machine
	closed   bool
}

// machine is a stored machine and what the fake guest does.
type machine struct {
	m *runtimev1alpha1.Machine
	// keys holds the secret data of the machine's disks by secret ID; never returned.
	keys           map[string][]byte
	ignoreShutdown bool
	// pending is the timer of a power operation waiting for the guest (a shutdown or reboot that
	// the guest ignores, or the start after StartDelay); nil when none.
	pending   *time.Timer
	pendingOp string
	deleting  bool
	gone      bool
	console   console
	// nextDevice is the next device letter to hand out (vda is the root disk's).
	nextDevice byte
}

// New returns a runtime with no machines.
func New(opts Options) *Server {
	opts.setDefaults()
	return &Server{
		opts: opts,
		history: history.NewMachines(history.Options{
			Limit:           opts.HistoryLimit,
			EventLimit:      opts.EventLimit,
			InitialRevision: opts.InitialRevision,
			Now:             opts.Now,
		}),
		machines: map[string]*machine{},
	}
}

// Register registers s on a gRPC server.
func (s *Server) Register(registrar grpc.ServiceRegistrar) {
	runtimev1alpha1.RegisterMachineRuntimeServer(registrar, s)
}

// Serve serves s on a new unix socket at path (removing a stale socket file first) until the
// returned stop function is called; stop also ends s's timers and open streams.
func (s *Server) Serve(path string) (stop func(), err error) {
	return socket.Serve(path, s.Register, s.Close)
}

// Close stops s's timers and ends its Watch and Console streams. Calls after Close fail with
// UNAVAILABLE.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, m := range s.machines {
		m.cancelPending()
		m.console.closeViewers(status.Error(codes.Unavailable, "runtime stopped"))
	}
	s.history.Close()
}

// lookup returns the machine with id, locked, or a NOT_FOUND (or UNAVAILABLE) error.
func (s *Server) lookupLocked(id string) (*machine, error) {
	if s.closed {
		return nil, status.Error(codes.Unavailable, "runtime stopped")
	}
	if err := validation.ID("machine_id", id); err != nil {
		return nil, err
	}
	m, ok := s.machines[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "machine %q not found", id)
	}
	return m, nil
}

// lookupMutable is lookupLocked for calls that change the machine: FAILED_PRECONDITION while it
// is being deleted.
func (s *Server) lookupMutableLocked(id string) (*machine, error) {
	m, err := s.lookupLocked(id)
	if err != nil {
		return nil, err
	}
	if m.deleting {
		return nil, status.Errorf(codes.FailedPrecondition, "machine %q is being deleted", id)
	}
	return m, nil
}

func (s *Server) now() *timestamppb.Timestamp { return timestamppb.New(s.opts.Now()) }

// commitLocked records a change of m under a new revision.
func (s *Server) commitLocked(m *machine, typ runtimev1alpha1.ChangeType) {
	s.history.Machine(typ, m.m)
}

// specChangedLocked bumps m's generation for a spec change that the fake applies at once.
func specChangedLocked(m *machine) {
	m.m.Metadata.Generation++
	m.m.Status.ObservedGeneration = m.m.Metadata.Generation
}

// eventLocked records an event about m under a new revision.
func (s *Server) eventLocked(m *machine, typ runtimev1alpha1.EventType, reason, format string, args ...any) {
	s.history.Event(m.m.GetMetadata().GetId(), typ, reason, format, args...)
}

func clone(m *machine) *runtimev1alpha1.Machine {
	return proto.Clone(m.m).(*runtimev1alpha1.Machine)
}

// Version reports the fake's name.
func (s *Server) Version(context.Context, *runtimev1alpha1.VersionRequest) (*runtimev1alpha1.VersionResponse, error) {
	return &runtimev1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: "v1alpha1"}, nil
}

// CreateMachine creates a machine under the caller's ID, or returns the one that has it.
func (s *Server) CreateMachine(_ context.Context, req *runtimev1alpha1.CreateMachineRequest) (*runtimev1alpha1.CreateMachineResponse, error) {
	if err := validation.Machine(req.GetMachine()); err != nil {
		return nil, err
	}
	id := req.GetMachine().GetMetadata().GetId()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "runtime stopped")
	}
	if existing, ok := s.machines[id]; ok {
		return &runtimev1alpha1.CreateMachineResponse{Machine: clone(existing), Created: false}, nil
	}
	spec := req.GetMachine().GetSpec()
	need := capacity.OfMachine(spec.GetResources())
	free := s.allocatableLocked().Sub(s.allocatedLocked())
	if !free.Fits(need) {
		return nil, status.Errorf(codes.ResourceExhausted,
			"machine %q (%d vCPUs, %d bytes of memory) does not fit: free are %d vCPUs, %d bytes of memory, huge pages %v",
			id, need.VCPUs, spec.GetResources().GetMemoryBytes(), free.VCPUs, free.MemoryBytes, free.HugePages)
	}

	m := &machine{keys: map[string][]byte{}, nextDevice: 'b', console: console{limit: s.opts.ConsoleLogBytes}}
	m.m = &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{
			Id:         id,
			Labels:     cloneMap(req.GetMachine().GetMetadata().GetLabels()),
			Generation: 1,
			CreateTime: s.now(),
		},
		Spec: &runtimev1alpha1.MachineSpec{
			Power:     spec.GetPower(),
			Class:     spec.GetClass(),
			Resources: proto.Clone(spec.GetResources()).(*runtimev1alpha1.MachineResources),
		},
		Status: &runtimev1alpha1.MachineStatus{ObservedGeneration: 1, State: runtimev1alpha1.MachineState_MACHINE_STATE_PENDING, Reason: "Creating"},
	}
	if rd := spec.GetRootDisk(); rd != nil {
		m.m.Spec.RootDisk = proto.Clone(rd).(*runtimev1alpha1.RootDisk)
		m.m.Status.RootDisk = &runtimev1alpha1.VolumeStatus{
			Name: validation.RootDiskName, Device: "vda", Handle: "root/" + id, SizeBytes: rd.GetSizeBytes(),
		}
	}
	if ud := spec.GetUserData(); ud != nil {
		m.m.Spec.UserData = proto.Clone(ud).(*runtimev1alpha1.UserData)
	}
	for _, v := range spec.GetVolumes() {
		s.addVolumeLocked(m, v)
	}
	for _, n := range spec.GetNetworkInterfaces() {
		s.addNetworkInterfaceLocked(m, n)
	}
	s.machines[id] = m
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Created", "created machine %s", id)
	if s.opts.StartDelay > 0 {
		s.scheduleLocked(m, "start", s.opts.StartDelay, func() { s.prepareLocked(m) })
	} else {
		s.prepareLocked(m)
	}
	return &runtimev1alpha1.CreateMachineResponse{Machine: clone(m), Created: true}, nil
}

// prepareLocked ends a new machine's pending phase: its devices are attached, and it starts or,
// for POWER_OFF, stops.
func (s *Server) prepareLocked(m *machine) {
	if m.gone || m.m.Status.State != runtimev1alpha1.MachineState_MACHINE_STATE_PENDING {
		return
	}
	markAttached(m)
	if m.m.Spec.Power == runtimev1alpha1.Power_POWER_ON {
		s.startLocked(m, "Started", "started")
		return
	}
	m.m.Status.State = runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED
	m.m.Status.Reason, m.m.Status.Message = "PoweredOff", "created powered off"
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
}

func markAttached(m *machine) {
	if rd := m.m.Status.RootDisk; rd != nil {
		rd.State = runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED
	}
	for _, v := range m.m.Status.Volumes {
		v.State = runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED
	}
	for _, n := range m.m.Status.NetworkInterfaces {
		n.State = runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED
	}
}

// attachmentState is the state of a device attached now: attached, or pending while the machine
// itself is.
func attachmentState(m *machine) runtimev1alpha1.AttachmentState {
	if m.m.Status.State == runtimev1alpha1.MachineState_MACHINE_STATE_PENDING {
		return runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_PENDING
	}
	return runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED
}

// DeleteMachine shuts a machine down and removes it.
func (s *Server) DeleteMachine(_ context.Context, req *runtimev1alpha1.DeleteMachineRequest) (*runtimev1alpha1.DeleteMachineResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.lookupLocked(req.GetMachineId())
	if status.Code(err) == codes.NotFound {
		return &runtimev1alpha1.DeleteMachineResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if m.deleting {
		return &runtimev1alpha1.DeleteMachineResponse{Machine: clone(m)}, nil
	}
	timeout, err := s.shutdownTimeout(req.GetShutdownTimeout())
	if err != nil {
		return nil, err
	}
	m.deleting = true
	wasRunning := m.m.Status.State == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING
	m.cancelPending()
	st := m.m.Status
	st.State = runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING
	st.Reason, st.Message = "Deleting", "deletion requested"
	m.m.Metadata.DeleteTime = s.now()
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Deleting", "deleting machine %s", m.m.Metadata.Id)
	resp := &runtimev1alpha1.DeleteMachineResponse{Machine: clone(m)}
	remove := func() { s.removeLocked(m) }
	if !wasRunning {
		remove()
		return resp, nil
	}
	id := m.m.Metadata.Id
	switch {
	case timeout == 0:
		remove()
	case !m.ignoreShutdown:
		m.console.write(fmt.Appendf(nil, "[fake] machine %s powered off\r\n", id))
		remove()
	default:
		s.scheduleLocked(m, "delete", timeout, func() {
			s.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "ShutdownTimeout",
				"machine %s did not shut down within %s: forced off", id, timeout)
			remove()
		})
	}
	return resp, nil
}

// removeLocked deletes a terminated machine.
func (s *Server) removeLocked(m *machine) {
	m.cancelPending()
	m.gone = true
	delete(s.machines, m.m.Metadata.Id)
	s.commitLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED)
	m.console.closeViewers(nil)
}

// Status reports the host's resources and the room left for each class asked about.
func (s *Server) Status(_ context.Context, req *runtimev1alpha1.StatusRequest) (*runtimev1alpha1.StatusResponse, error) {
	for i, c := range req.GetClasses() {
		if c.GetName() == "" {
			return nil, status.Errorf(codes.InvalidArgument, "classes[%d].name: required", i)
		}
		if err := validation.Resources(fmt.Sprintf("classes[%d].resources", i), c.GetResources()); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "runtime stopped")
	}
	allocatable, allocated := s.allocatableLocked(), s.allocatedLocked()
	sizes := s.opts.Capacity.PageSizes()
	free := allocatable.Sub(allocated)
	resp := &runtimev1alpha1.StatusResponse{
		Capacity:     s.opts.Capacity.Proto(sizes...),
		Reserved:     s.opts.Reserved.Proto(sizes...),
		Overcommit:   &runtimev1alpha1.Overcommit{CpuRatio: s.opts.CPUOvercommitRatio, MemoryRatio: s.opts.MemoryOvercommitRatio},
		Allocatable:  allocatable.Proto(sizes...),
		Allocated:    allocated.Proto(sizes...),
		MachineCount: uint32(len(s.machines)),
		Revision:     s.history.Revision(),
	}
	for _, c := range req.GetClasses() {
		resp.Classes = append(resp.Classes, &runtimev1alpha1.ClassAvailability{
			Name:      c.GetName(),
			Available: free.Count(capacity.OfMachine(c.GetResources())),
		})
	}
	return resp, nil
}

func (s *Server) allocatableLocked() capacity.Resources {
	return capacity.Allocatable(s.opts.Capacity, s.opts.Reserved, s.opts.CPUOvercommitRatio, s.opts.MemoryOvercommitRatio)
}

// allocatedLocked sums what every machine holds: all that exist, stopped and terminating ones
// included.
func (s *Server) allocatedLocked() capacity.Resources {
	var sum capacity.Resources
	for _, m := range s.machines {
		sum = sum.Add(capacity.OfMachine(m.m.Spec.Resources))
	}
	return sum
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stableMAC derives a locally administered unicast MAC address from a machine ID and NIC name.
func stableMAC(id, name string) string {
	sum := sha256.Sum256([]byte(id + "/" + name))
	sum[0] = sum[0]&0xfc | 0x02
	return net.HardwareAddr(sum[:6]).String()
}

// stableTap derives a tap device name (at most 15 characters) from a machine ID and NIC name.
func stableTap(id, name string) string {
	sum := sha256.Sum256([]byte(id + "/" + name))
	return fmt.Sprintf("tap%x", sum[:6])
}
