package libvirt

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// Machine state: what libvirt shows of a domain (an observation), how that and the provider's
// own knowledge map onto a MachineStatus, and the commit of a changed machine to the history.

// observation is what libvirt showed of a machine's domain.
type observation struct {
	// exists is false when there is no domain (not defined yet, or gone).
	exists bool
	state  libvirt.DomainState
	reason int
	active bool
	// devices are the domain's disks and NICs: the live ones when it runs, else the persistent.
	devices domainDevices
}

// observe reads the state and devices of a machine's domain.
func observe(lv *libvirt.Connect, id string) (observation, error) {
	var obs observation
	err := withDomain(lv, id, func(dom *libvirt.Domain) error {
		state, reason, err := dom.GetState()
		if err != nil {
			return err
		}
		obs.exists, obs.state, obs.reason = true, state, reason
		obs.active = isActiveState(state)
		flags := libvirt.DomainXMLFlags(0)
		if !obs.active {
			flags = libvirt.DOMAIN_XML_INACTIVE
		}
		xml, err := dom.GetXMLDesc(flags)
		if err != nil {
			return err
		}
		obs.devices, err = parseDevices(xml)
		return err
	})
	if isNoDomain(err) {
		return observation{}, nil
	}
	return obs, err
}

func isActiveState(s libvirt.DomainState) bool {
	return s != libvirt.DOMAIN_SHUTOFF && s != libvirt.DOMAIN_NOSTATE
}

// stateOf maps a machine and its domain onto a state with reason and message.
func (m *machine) stateOf() (runtimev1alpha1.MachineState, string, string) {
	obs := m.obs
	switch {
	case m.deleting:
		return runtimev1alpha1.MachineState_MACHINE_STATE_TERMINATING, "Deleting", "deletion requested"
	case (!m.rec.Prepared || !obs.exists) && m.errReason != "":
		return runtimev1alpha1.MachineState_MACHINE_STATE_ERROR, m.errReason, m.errMessage
	case !m.rec.Prepared || !obs.exists:
		return runtimev1alpha1.MachineState_MACHINE_STATE_PENDING, m.pendingReason, m.pendingMessage
	}
	switch obs.state {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING, "", ""
	case libvirt.DOMAIN_PAUSED:
		return runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING, "Paused", pausedMessage(libvirt.DomainPausedReason(obs.reason))
	case libvirt.DOMAIN_PMSUSPENDED:
		return runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING, "Suspended", "the guest suspended itself"
	case libvirt.DOMAIN_SHUTDOWN:
		return runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING, "ShuttingDown", "the guest is shutting down"
	case libvirt.DOMAIN_CRASHED:
		return runtimev1alpha1.MachineState_MACHINE_STATE_ERROR, "Crashed", "the guest crashed"
	}
	// Shut off: why is in the record (libvirt forgets across its restarts).
	reason, message := m.rec.StopReason, m.rec.StopMessage
	switch {
	case reason == "":
		return runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED, "PoweredOff", "powered off"
	case failedStop(reason):
		return runtimev1alpha1.MachineState_MACHINE_STATE_ERROR, reason, message
	}
	return runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED, reason, message
}

// failedStop reports whether a stop reason is a failure (ERROR, started again by the reaper while
// the spec says POWER_ON) rather than a stop (STOPPED).
func failedStop(reason string) bool {
	return reason == "Crashed" || reason == "StartFailed"
}

func pausedMessage(r libvirt.DomainPausedReason) string {
	switch r {
	case libvirt.DOMAIN_PAUSED_IOERROR:
		return "paused by a disk I/O error"
	case libvirt.DOMAIN_PAUSED_USER:
		return "paused outside the provider"
	}
	return fmt.Sprintf("paused (libvirt reason %d)", r)
}

// stopReasonOf says why a guest that the provider saw running is now shut off.
func (m *machine) stopReasonOf(obs observation) (string, string) {
	if m.expectStop != "" {
		return m.expectStop, m.expectStopMessage
	}
	switch libvirt.DomainShutoffReason(obs.reason) {
	case libvirt.DOMAIN_SHUTOFF_SHUTDOWN:
		return "GuestShutdown", "the guest powered itself off"
	case libvirt.DOMAIN_SHUTOFF_DESTROYED:
		return "ForcedOff", "destroyed outside the provider"
	case libvirt.DOMAIN_SHUTOFF_CRASHED:
		return "Crashed", "the guest crashed"
	case libvirt.DOMAIN_SHUTOFF_FAILED:
		return "StartFailed", "the hypervisor failed to run the guest"
	}
	return "Stopped", "the domain stopped"
}

// buildViewLocked computes m's machine from its record, spec and last observation.
func (p *Provider) buildViewLocked(m *machine) *runtimev1alpha1.Machine {
	rec := m.rec
	view := &runtimev1alpha1.Machine{
		Metadata: &runtimev1alpha1.ObjectMetadata{
			Id:         m.id,
			Labels:     rec.labels(),
			Generation: rec.Generation,
			CreateTime: timestamppb.New(parseTime(rec.CreateTime)),
		},
		Spec:   cloneSpec(m.spec),
		Status: &runtimev1alpha1.MachineStatus{ObservedGeneration: rec.Generation, BootCount: rec.BootCount, LastRebootId: rec.LastRebootID},
	}
	if rec.DeleteTime != "" {
		view.Metadata.DeleteTime = timestamppb.New(parseTime(rec.DeleteTime))
	}
	if rec.BootTime != "" {
		view.Status.BootTime = timestamppb.New(parseTime(rec.BootTime))
	}
	for _, v := range view.Spec.GetVolumes() {
		withoutSecrets(v) // write-only
	}
	st := view.Status
	st.State, st.Reason, st.Message = m.stateOf()
	attached := func(present bool) runtimev1alpha1.AttachmentState {
		if present && m.rec.Prepared {
			return runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_ATTACHED
		}
		return runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_PENDING
	}
	devs := m.obs.devices
	if rd := m.spec.GetRootDisk(); rd != nil && rd.GetVolume() == "" {
		path := p.rootDiskPath(m.id)
		size := max(rd.GetSizeBytes(), rec.RootDiskSize)
		_, present := devs.disks[rootDevice]
		st.RootDisk = &runtimev1alpha1.VolumeStatus{
			Name: validation.RootDiskName, State: attached(present), Device: rootDevice, Handle: path, SizeBytes: size,
		}
	}
	wanted := map[string]bool{rootDevice: true, cloudInitDevice: true}
	for _, v := range m.spec.GetVolumes() {
		dev := volumeDevice(m, v)
		wanted[dev] = true
		vs := &runtimev1alpha1.VolumeStatus{Name: v.GetName(), Device: dev, Handle: p.volumePath(m.id, v.GetName()), SizeBytes: volumeSize(v)}
		if rbd := v.GetNetworkDisk().GetRbd(); rbd != nil {
			vs.Handle = diskConfig{RBD: &rbdConfig{Pool: rbd.GetPool(), Image: rbd.GetImage()}}.source()
			vs.KeyId = rbd.GetKey().GetId()
		}
		disk, present := devs.disks[dev]
		vs.State = attached(present && disk.Source == vs.Handle)
		st.Volumes = append(st.Volumes, vs)
	}
	// Disks of the provider still in the domain but no longer in the spec: the guest has not
	// released them yet.
	for _, dev := range slices.Sorted(maps.Keys(devs.disks)) {
		file := devs.disks[dev].Source
		name, ok := p.volumeNameOf(m.id, file)
		if rbd := devs.disks[dev].Disk.RBD; rbd != nil {
			name, ok = cmp.Or(rbd.Volume, dev), true
		}
		if ok && !wanted[dev] {
			st.Volumes = append(st.Volumes, &runtimev1alpha1.VolumeStatus{
				Name: name, State: runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_DETACHING, Device: dev, Handle: file,
			})
		}
	}
	wantedMACs := map[string]bool{}
	for _, n := range m.spec.GetNetworkInterfaces() {
		mac, tap := nicNames(m.id, n)
		wantedMACs[mac] = true
		_, present := devs.nics[mac]
		st.NetworkInterfaces = append(st.NetworkInterfaces, &runtimev1alpha1.NetworkInterfaceStatus{
			Name: n.GetName(), State: attached(present), MacAddress: mac, TapName: tap, Ips: append([]string(nil), n.GetIps()...),
		})
	}
	for _, mac := range slices.Sorted(maps.Keys(devs.nics)) {
		tap := devs.nics[mac].Source
		if name, ok := m.detachingNICs[mac]; ok && !wantedMACs[mac] {
			st.NetworkInterfaces = append(st.NetworkInterfaces, &runtimev1alpha1.NetworkInterfaceStatus{
				Name: name, State: runtimev1alpha1.AttachmentState_ATTACHMENT_STATE_DETACHING, MacAddress: mac, TapName: tap,
			})
		}
	}
	return view
}

// publishLocked recomputes m's machine and, when it changed, records it under a new revision with
// the events its state change calls for. typ is the change type for a changed machine.
func (p *Provider) publishLocked(m *machine, typ runtimev1alpha1.ChangeType) {
	view := p.buildViewLocked(m)
	old := m.view
	if old != nil {
		view.Metadata.Revision = old.Metadata.GetRevision()
		if proto.Equal(view, old) {
			return
		}
	}
	m.view = view
	p.history.Machine(typ, view)
	p.revs.reserve(p.history.Revision(), p.log)
	if old != nil {
		p.stateEventsLocked(m, old.GetStatus(), view.GetStatus())
	}
}

// stateEventsLocked records the events of a state change that no action recorded itself.
func (p *Provider) stateEventsLocked(m *machine, old, cur *runtimev1alpha1.MachineStatus) {
	if old.GetState() == cur.GetState() && old.GetReason() == cur.GetReason() {
		return
	}
	normal, warning := runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, runtimev1alpha1.EventType_EVENT_TYPE_WARNING
	switch cur.GetState() {
	case runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING:
		if old.GetState() != runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING {
			p.eventLocked(m, normal, "Started", "machine %s started (boot %d)", m.id, cur.GetBootCount())
		}
	case runtimev1alpha1.MachineState_MACHINE_STATE_STOPPED:
		switch cur.GetReason() {
		case "GuestShutdown":
			p.eventLocked(m, normal, "GuestShutdown", "the guest of machine %s powered itself off", m.id)
		case "ForcedOff":
			p.eventLocked(m, normal, "ForcedOff", "machine %s was forced off: %s", m.id, cur.GetMessage())
		default:
			p.eventLocked(m, normal, "Stopped", "machine %s stopped: %s", m.id, cur.GetMessage())
		}
	case runtimev1alpha1.MachineState_MACHINE_STATE_ERROR:
		p.eventLocked(m, warning, cur.GetReason(), "machine %s: %s", m.id, cur.GetMessage())
	}
}

// refresh observes m's domain and publishes what changed. The caller holds m.op. A guest that
// stopped since the provider last looked gets its stop reason recorded (in memory and in the
// domain's metadata), and is started again when a POWER_ON called off its shutdown.
func (p *Provider) refresh(lv *libvirt.Connect, m *machine) error {
	obs, err := observe(lv, m.id)
	if err != nil {
		return err
	}
	p.mu.Lock()
	rec, prepared, deleting := m.rec, m.rec.Prepared, m.deleting
	p.mu.Unlock()
	if prepared && !deleting && obs.exists {
		switch {
		case obs.active && !rec.Running:
			// Started outside the provider's own start (virsh start, or libvirt's autostart).
			next := rec.clone()
			next.Running, next.StopReason, next.StopMessage = true, "", ""
			if err := p.writeRecord(lv, m, next); err != nil {
				return err
			}
		case !obs.active && rec.Running:
			next := rec.clone()
			next.Running = false
			next.StopReason, next.StopMessage = m.stopReasonOf(obs)
			if err := p.writeRecord(lv, m, next); err != nil {
				return err
			}
			p.mu.Lock()
			m.expectStop, m.expectStopMessage = "", ""
			if m.shutdown != nil {
				m.shutdown.Stop()
				m.shutdown = nil
			}
			restart := m.restartOnStop && m.spec.GetPower() == runtimev1alpha1.Power_POWER_ON
			m.restartOnStop = false
			m.obs = obs
			p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
			p.mu.Unlock()
			if restart {
				return p.start(lv, m, "Started", "started again: POWER_ON called off the shutdown")
			}
			return nil
		}
	}
	p.mu.Lock()
	m.obs = obs
	p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	if obs.active && m.console != nil {
		m.console.wake()
	}
	p.mu.Unlock()
	return nil
}

// writeRecord stores rec in the domain's metadata and, once stored, in m. The caller holds m.op.
func (p *Provider) writeRecord(lv *libvirt.Connect, m *machine, rec *record) error {
	data, err := rec.marshal()
	if err != nil {
		return err
	}
	err = withDomain(lv, m.id, func(dom *libvirt.Domain) error {
		return dom.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, data, metadataPrefix, MetadataNamespace, libvirt.DOMAIN_AFFECT_CONFIG)
	})
	if err != nil {
		return fmt.Errorf("writing the metadata of machine %s: %w", m.id, err)
	}
	p.mu.Lock()
	m.rec = rec
	p.mu.Unlock()
	return nil
}

// readRecord reads the Ferrite metadata of a domain: nil without error when the domain has none
// (it is not the provider's).
func readRecord(dom *libvirt.Domain) (*record, error) {
	data, err := dom.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, MetadataNamespace, libvirt.DOMAIN_AFFECT_CONFIG)
	if isNoMetadata(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseRecord(strings.TrimSpace(data))
}
