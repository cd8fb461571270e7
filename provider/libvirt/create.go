package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"libvirt.org/go/libvirt"

	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/capacity"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
	"github.com/ferrite-dev/ferrite/provider/image"
)

// Creating a machine: CreateMachine checks the request and the host's room, then defines a
// placeholder domain that carries the machine's metadata — the commit point, after which the
// machine exists and survives restarts. The preparation (image pull, disks, user data, the full
// domain, the first start) runs in the background and is retried with backoff until it works or
// the machine is deleted; a restarted provider resumes it for every domain not yet prepared.

// CreateMachine creates a machine under the caller's ID, or returns the one that has it.
func (p *Provider) CreateMachine(ctx context.Context, req *runtimev1alpha1.CreateMachineRequest) (*runtimev1alpha1.CreateMachineResponse, error) {
	if err := validation.Machine(req.GetMachine()); err != nil {
		return nil, err
	}
	if err := p.usable(); err != nil {
		return nil, err
	}
	spec := req.GetMachine().GetSpec()
	for i, v := range spec.GetVolumes() {
		field := fmt.Sprintf("machine.spec.volumes[%d]", i)
		d := v.GetDevice()
		switch {
		case v.GetName() == rootVolume(spec) && d != "" && d != rootDevice:
			return nil, status.Errorf(codes.InvalidArgument, "%s.device: the volume the machine boots from is %q, not %q", field, rootDevice, d)
		case v.GetName() != rootVolume(spec) && (d == rootDevice || d == cloudInitDevice):
			return nil, status.Errorf(codes.InvalidArgument, "%s.device: %q is the provider's (root disk or NoCloud drive)", field, d)
		}
	}
	id := req.GetMachine().GetMetadata().GetId()
	host, err := p.hostResources()
	if err != nil {
		return nil, err
	}

	p.mu.Lock()
	if existing, ok := p.machines[id]; ok {
		p.mu.Unlock()
		// A create still in progress finishes (or fails) first: wait for its lock.
		existing.op.Lock()
		//lint:ignore SA2001 the empty critical section waits for the create holding the lock
		existing.op.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		if existing.gone || existing.view == nil {
			return nil, status.Errorf(codes.Unavailable, "machine %q: a concurrent create or delete is in progress; retry", id)
		}
		return &runtimev1alpha1.CreateMachineResponse{Machine: proto.Clone(existing.view).(*runtimev1alpha1.Machine)}, nil
	}
	need := capacity.OfMachine(spec.GetResources())
	free := p.allocatableLocked(host).Sub(p.allocatedLocked())
	if !free.Fits(need) {
		p.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted,
			"machine %q (%d vCPUs, %d bytes of memory, huge pages %v) does not fit: free are %d vCPUs, %d bytes of memory, huge pages %v",
			id, need.VCPUs, need.MemoryBytes, need.HugePages, free.VCPUs, free.MemoryBytes, free.HugePages)
	}
	rec, err := newRecord(id, req.GetMachine().GetMetadata().GetLabels(), spec, p.opts.Now())
	if rec != nil {
		rec.Instance = p.opts.Instance
	}
	if err != nil {
		p.mu.Unlock()
		return nil, status.Error(codes.Internal, err.Error())
	}
	m := &machine{
		id:             id,
		rec:            rec,
		spec:           proto.Clone(spec).(*runtimev1alpha1.MachineSpec),
		pendingReason:  "Creating",
		pendingMessage: "defining the domain",
	}
	p.chooseDevicesLocked(m)
	// Registered (and counted against the host) before the domain exists, with op held, so that
	// a concurrent create of the same ID waits for this one and no two creates overcommit.
	m.op.Lock()
	p.machines[id] = m
	p.mu.Unlock()
	defer m.op.Unlock()

	resp, err := p.define(m)
	if err != nil {
		p.mu.Lock()
		m.gone = true
		delete(p.machines, id)
		p.mu.Unlock()
		return nil, err
	}
	return resp, nil
}

// define makes the placeholder domain of a new machine (or adopts the one a crashed or
// concurrent create left) and starts the preparation. The caller holds m.op.
func (p *Provider) define(m *machine) (*runtimev1alpha1.CreateMachineResponse, error) {
	lv, err := p.conn.get()
	if err != nil {
		return nil, err
	}
	// A domain under the machine's name that the provider does not know: never a second one.
	if dom, err := lv.LookupDomainByName(DomainName(m.id)); err == nil {
		defer dom.Free()
		rec, err := readRecord(dom)
		if err != nil || rec == nil || rec.ID != m.id || rec.Instance != p.opts.Instance {
			return nil, status.Errorf(codes.AlreadyExists, "a domain named %s exists that is not this machine's (metadata: %v)", DomainName(m.id), err)
		}
		// A domain left by an earlier create of this ID (the provider lost track of it): adopt it.
		if err := p.adoptDomain(lv, dom, rec, m); err != nil {
			return nil, grpcError("adopting the domain of machine "+m.id, err)
		}
		return &runtimev1alpha1.CreateMachineResponse{Machine: p.viewOf(m)}, nil
	} else if !isNoDomain(err) {
		return nil, grpcError("looking up the domain of machine "+m.id, err)
	}

	if err := os.MkdirAll(p.machineDir(m.id), 0o711); err != nil {
		return nil, status.Errorf(codes.Internal, "machine directory: %v", err)
	}
	if ud := m.spec.GetUserData(); ud != nil {
		if err := p.writeUserData(m.id, ud.GetData()); err != nil {
			return nil, status.Errorf(codes.Internal, "user data: %v", err)
		}
	}
	for _, v := range m.spec.GetVolumes() {
		if err := p.writeVolumeKeys(m.id, v); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	xml, err := p.placeholderXML(m.rec)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	dom, err := lv.DomainDefineXML(xml)
	if err != nil {
		return nil, grpcError("defining the domain of machine "+m.id, err)
	}
	dom.Free()

	p.mu.Lock()
	m.defined = true
	m.obs = observation{exists: true, state: libvirt.DOMAIN_SHUTOFF}
	p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED)
	p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Created", "created machine %s", m.id)
	view := proto.Clone(m.view).(*runtimev1alpha1.Machine)
	p.startPreparingLocked(m)
	p.mu.Unlock()
	return &runtimev1alpha1.CreateMachineResponse{Machine: view, Created: true}, nil
}

// placeholderXML is the domain of a machine before its preparation: its identity, resources and
// metadata, no devices but the console.
func (p *Provider) placeholderXML(rec *record) (string, error) {
	spec, err := rec.spec()
	if err != nil {
		return "", err
	}
	data, err := rec.marshal()
	if err != nil {
		return "", err
	}
	return domainXML(domainConfig{
		ID:                rec.ID,
		VirtType:          p.opts.VirtType,
		VCPUs:             spec.GetResources().GetVcpus(),
		MemoryBytes:       spec.GetResources().GetMemoryBytes(),
		HugepageSizeBytes: spec.GetResources().GetHugepageSizeBytes(),
		ConsoleLog:        p.consoleLogPath(rec.ID),
		Metadata:          data,
	})
}

// chooseDevicesLocked picks guest devices for the volumes whose spec leaves them empty: vda for
// the volume the machine boots from, for the others the first of vdb, vdc, ... that no other disk
// of the machine uses (vda is the root disk's).
func (p *Provider) chooseDevicesLocked(m *machine) {
	for _, v := range m.spec.GetVolumes() {
		if v.GetDevice() != "" || m.rec.device(v.GetName()) != "" {
			continue
		}
		if v.GetName() == rootVolume(m.spec) {
			m.rec.setDevice(v.GetName(), rootDevice)
			continue
		}
		m.rec.setDevice(v.GetName(), nextDevice(m))
	}
}

// nextDevice is the first free vdX device of m (vdb..vdz, then vdaa..).
func nextDevice(m *machine) string {
	used := map[string]bool{rootDevice: true, cloudInitDevice: true}
	for _, v := range m.spec.GetVolumes() {
		if d := volumeDevice(m, v); d != "" {
			used[d] = true
		}
	}
	for dev := range m.obs.devices.disks {
		used[dev] = true
	}
	for i := 1; ; i++ {
		if dev := "vd" + diskLetters(i); !used[dev] {
			return dev
		}
	}
}

// diskLetters is the letter suffix of disk number i as Linux names them: 0 a, 25 z, 26 aa.
func diskLetters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

// startPreparingLocked starts the preparation goroutine of a machine that is not prepared.
func (p *Provider) startPreparingLocked(m *machine) {
	if m.rec.Prepared || m.preparing || m.deleting || p.closed {
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	m.preparing, m.prepareCancel = true, cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		p.prepare(ctx, m)
		p.mu.Lock()
		m.preparing, m.prepareCancel = false, nil
		p.mu.Unlock()
	}()
}

// prepare retries prepareOnce with backoff until it succeeds, the machine is deleted or the
// provider stops.
func (p *Provider) prepare(ctx context.Context, m *machine) {
	backoff := time.Second
	for {
		err := p.prepareOnce(ctx, m)
		if err == nil || ctx.Err() != nil {
			return
		}
		p.log.Error(err, "preparing machine; retrying", "machine", m.id, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Minute)
	}
}

// setPending publishes why a machine is not ready yet.
func (p *Provider) setPending(m *machine, reason, message string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.pendingReason, m.pendingMessage = reason, message
	p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
}

// prepareOnce pulls the image, writes the disks and user data, defines the full domain and starts
// it when the spec says POWER_ON.
func (p *Provider) prepareOnce(ctx context.Context, m *machine) error {
	p.mu.Lock()
	spec := proto.Clone(m.spec).(*runtimev1alpha1.MachineSpec)
	labels := m.rec.labels()
	p.mu.Unlock()

	var img *image.Image
	if rd := spec.GetRootDisk(); rd.GetImage() != "" {
		if p.opts.Images == nil {
			return p.pullFailed(m, rd.GetImage(), errors.New("the provider has no image store"))
		}
		p.setPending(m, "ImagePulling", "pulling image "+rd.GetImage())
		var err error
		img, err = p.opts.Images.Pull(ctx, rd.GetImage())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return p.pullFailed(m, rd.GetImage(), err)
		}
		p.mu.Lock()
		m.errReason, m.errMessage, m.lastPullError = "", "", ""
		p.mu.Unlock()
	}

	m.op.Lock()
	defer m.op.Unlock()
	p.mu.Lock()
	deleting := m.deleting || m.gone
	// The spec may have changed during the pull (power, volumes, NICs).
	spec = proto.Clone(m.spec).(*runtimev1alpha1.MachineSpec)
	rec := m.rec.clone()
	p.mu.Unlock()
	if deleting || ctx.Err() != nil {
		return nil
	}
	lv, err := p.conn.get()
	if err != nil {
		return err
	}
	p.setPending(m, "Preparing", "writing disks and user data")
	cfg, err := p.fullConfig(ctx, m.id, spec, rec, labels, img)
	if err == nil {
		err = p.ensureSecrets(lv, m.id, spec)
	}
	if err != nil {
		p.setPending(m, "PrepareFailed", err.Error())
		return err
	}
	rec.Prepared = true
	if img != nil {
		rec.ImageDigest = img.Digest
	}
	if spec.GetPower() == runtimev1alpha1.Power_POWER_OFF {
		rec.StopReason, rec.StopMessage = "PoweredOff", "created powered off"
	}
	if cfg.Metadata, err = rec.marshal(); err != nil {
		return err
	}
	xml, err := domainXML(cfg)
	if err != nil {
		return err
	}
	dom, err := lv.DomainDefineXML(xml)
	if err != nil {
		p.setPending(m, "DefineFailed", err.Error())
		return fmt.Errorf("defining the domain of machine %s: %w", m.id, err)
	}
	dom.Free()
	p.mu.Lock()
	m.rec = rec
	m.pendingReason, m.pendingMessage = "", ""
	// Told apart from Started, so that the time between the two (and the preparation before)
	// can be measured.
	p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Defined", "defined the domain of machine %s (disks and user data written)", m.id)
	p.mu.Unlock()
	if spec.GetPower() == runtimev1alpha1.Power_POWER_ON {
		// A failed start is an ERROR state the next POWER_ON (or the reaper's resync) retries;
		// the preparation itself is done.
		_ = p.start(lv, m, "Started", "started")
		return nil
	}
	return p.refresh(lv, m)
}

// pullFailed reports a failed image pull: a warning event (once per distinct error) and the
// state PENDING (a transient failure) or ERROR (the image does not exist), reason
// ImagePullFailed. The pull is retried either way.
func (p *Provider) pullFailed(m *machine, ref string, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf("pulling image %s: %v", ref, err)
	m.pendingReason, m.pendingMessage = "ImagePullFailed", msg
	if image.IsNotFound(err) {
		m.errReason, m.errMessage = "ImagePullFailed", msg
	}
	if m.lastPullError != msg {
		m.lastPullError = msg
		p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "ImagePullFailed", "%s", msg)
	}
	p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	return errors.New(msg)
}

// fullConfig writes a machine's files and returns its complete domain configuration.
func (p *Provider) fullConfig(ctx context.Context, id string, spec *runtimev1alpha1.MachineSpec, rec *record, labels map[string]string, img *image.Image) (domainConfig, error) {
	res := spec.GetResources()
	cfg := domainConfig{
		ID:                id,
		VirtType:          p.opts.VirtType,
		VCPUs:             res.GetVcpus(),
		MemoryBytes:       res.GetMemoryBytes(),
		HugepageSizeBytes: res.GetHugepageSizeBytes(),
		ConsoleLog:        p.consoleLogPath(id),
	}
	if img != nil {
		cfg.Kernel, cfg.Initramfs, cfg.Cmdline = img.Kernel, img.Initramfs, img.Cmdline
	}
	if img != nil && rootVolume(spec) == "" {
		size, err := p.prepareRootDisk(ctx, id, spec.GetRootDisk(), img)
		if err != nil {
			return cfg, fmt.Errorf("root disk: %w", err)
		}
		rec.RootDiskSize = size
		if size > 0 {
			cfg.Disks = append(cfg.Disks, diskConfig{Path: p.rootDiskPath(id), Format: "qcow2", Device: rootDevice})
		}
	}
	for _, v := range spec.GetVolumes() {
		if v.GetEmptyDisk() != nil {
			if err := p.prepareVolume(ctx, id, v); err != nil {
				return cfg, fmt.Errorf("volume %q: %w", v.GetName(), err)
			}
		}
		disk := p.volumeDisk(id, spec, rec, v)
		if disk.Boot > 0 {
			cfg.Disks = append([]diskConfig{disk}, cfg.Disks...)
			continue
		}
		cfg.Disks = append(cfg.Disks, disk)
	}
	for _, n := range spec.GetNetworkInterfaces() {
		mac, tap := nicNames(id, n)
		cfg.NICs = append(cfg.NICs, nicConfig{MAC: mac, Tap: tap})
	}
	var err error
	cfg.IgnitionFile, cfg.CloudInitISO, err = p.prepareUserData(id, spec, labels)
	if err != nil {
		return cfg, fmt.Errorf("user data: %w", err)
	}
	return cfg, nil
}
