package libvirt

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Power: start, graceful shutdown forced after a timeout, reboot reset after a timeout, and
// deletion. The state changes they cause arrive as libvirt events and are published by refresh;
// the actions record their own events (ShutdownTimeout, RebootTimeout, ...).

// start boots m's domain. The caller holds m.op. The boot count and the running mark are stored
// before the start, so that a crash in between still knows the machine is meant to run.
func (p *Provider) start(lv *libvirt.Connect, m *machine, reason, message string) error {
	p.mu.Lock()
	prev := m.rec
	next := m.rec.clone()
	p.mu.Unlock()
	next.BootCount++
	next.BootTime = formatTime(p.opts.Now())
	next.Running, next.StopReason, next.StopMessage = true, "", ""
	if err := p.writeRecord(lv, m, next); err != nil {
		return err
	}
	// QEMU reads the network disks' secrets when it starts; libvirt forgets them when it restarts.
	p.mu.Lock()
	spec := cloneSpec(m.spec)
	p.mu.Unlock()
	err := p.ensureSecrets(lv, m.id, spec)
	if err == nil {
		err = withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Create() })
	}
	if err != nil && !isOperationInvalid(err) { // "already running" is a start that happened
		// ERROR, recorded so that it lasts; the reaper starts the machine again.
		failed := prev.clone()
		failed.Running = false
		failed.StopReason, failed.StopMessage = "StartFailed", err.Error()
		_ = p.writeRecord(lv, m, failed)
		_ = p.refresh(lv, m)
		return fmt.Errorf("starting machine %s: %w", m.id, err)
	}
	p.mu.Lock()
	m.expectStop, m.expectStopMessage = "", ""
	if reason != "Started" {
		// Started events come from the state change; other reasons (Restarted) are told here.
		p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, reason, "machine %s: %s", m.id, message)
	}
	p.mu.Unlock()
	return p.refresh(lv, m)
}

// deadline is a pending forced action (forcing off, resetting) and its timer. The machine's field
// names the current one, so a deadline that was cancelled or replaced does nothing when it fires.
type deadline struct {
	timer *time.Timer
}

// Stop cancels the deadline's timer. Called under p.mu, which guards timer.
func (d *deadline) Stop() { d.timer.Stop() }

// retryDelay is how soon a deadline that found libvirt away fires again.
const retryDelay = time.Second

// shutdownTimeout is the timeout a request asks for: the default when unset, 0 for "at once".
func (p *Provider) shutdownTimeout(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return p.opts.ShutdownTimeout, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "shutdown_timeout: %v", err)
	}
	if t := d.AsDuration(); t >= 0 {
		return t, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "shutdown_timeout: negative")
}

// SetMachinePower sets the desired power state and acts on it.
func (p *Provider) SetMachinePower(_ context.Context, req *runtimev1alpha1.SetMachinePowerRequest) (*runtimev1alpha1.SetMachinePowerResponse, error) {
	power := req.GetPower()
	if _, ok := runtimev1alpha1.Power_name[int32(power)]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "power: unknown value %d", power)
	}
	timeout, err := p.shutdownTimeout(req.GetShutdownTimeout())
	if err != nil {
		return nil, err
	}
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	if err := p.setPower(lv, m, power, timeout); err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	return &runtimev1alpha1.SetMachinePowerResponse{Machine: p.viewOf(m)}, nil
}

func (p *Provider) setPower(lv *libvirt.Connect, m *machine, power runtimev1alpha1.Power, timeout time.Duration) error {
	p.mu.Lock()
	changed := m.spec.GetPower() != power
	prepared := m.rec.Prepared
	p.mu.Unlock()
	if changed {
		if err := p.updateSpec(lv, m, func(spec *runtimev1alpha1.MachineSpec, _ *record) { spec.Power = power }); err != nil {
			return err
		}
	}
	if !prepared {
		// The preparation starts the machine or not, by the spec it finds.
		p.publish(m)
		return nil
	}
	if err := p.refresh(lv, m); err != nil {
		return err
	}
	p.mu.Lock()
	active, shuttingDown := m.obs.active, m.shutdown != nil
	errored := failedStop(m.rec.StopReason)
	p.mu.Unlock()
	switch power {
	case runtimev1alpha1.Power_POWER_ON:
		switch {
		case shuttingDown:
			// The guest was asked to shut down already; if it still does, it is started again.
			p.mu.Lock()
			m.shutdown.Stop()
			m.shutdown = nil
			m.expectStop, m.expectStopMessage = "", ""
			m.restartOnStop = true
			p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "ShutdownCancelled", "machine %s stays on", m.id)
			p.mu.Unlock()
		case !active:
			return p.start(lv, m, "Started", "started")
		}
	case runtimev1alpha1.Power_POWER_OFF:
		switch {
		case active && !shuttingDown:
			return p.shutdown(lv, m, timeout)
		case !active && errored:
			next := m.rec.clone()
			next.StopReason, next.StopMessage = "PoweredOff", "powered off after an error"
			if err := p.writeRecord(lv, m, next); err != nil {
				return err
			}
			p.publish(m)
		}
	}
	return nil
}

// updateSpec changes m's spec (and record), bumps its generation and stores both in the domain's
// metadata. The caller holds m.op.
func (p *Provider) updateSpec(lv *libvirt.Connect, m *machine, change func(*runtimev1alpha1.MachineSpec, *record)) error {
	p.mu.Lock()
	spec := cloneSpec(m.spec)
	next := m.rec.clone()
	p.mu.Unlock()
	change(spec, next)
	next.Generation++
	if err := next.setSpec(spec); err != nil {
		return err
	}
	if err := p.writeRecord(lv, m, next); err != nil {
		return err
	}
	p.mu.Lock()
	m.spec = spec
	p.mu.Unlock()
	return nil
}

// publish recomputes and, if changed, records m.
func (p *Provider) publish(m *machine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
}

// shutdown asks a running guest to power off (ACPI) and forces it off when it has not within
// timeout; a zero timeout forces it at once. The caller holds m.op.
func (p *Provider) shutdown(lv *libvirt.Connect, m *machine, timeout time.Duration) error {
	if timeout == 0 {
		p.mu.Lock()
		m.expectStop, m.expectStopMessage = "ForcedOff", "forced off at the caller's request"
		p.mu.Unlock()
		if err := withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Destroy() }); err != nil && !isOperationInvalid(err) {
			return err
		}
		return p.refresh(lv, m)
	}
	p.mu.Lock()
	m.expectStop, m.expectStopMessage = "PoweredOff", "shut down"
	m.restartOnStop = false
	d := &deadline{}
	d.timer = time.AfterFunc(timeout, func() { p.forceOff(m, d, timeout) })
	m.shutdown = d
	p.mu.Unlock()
	// No flags: the hypervisor's default, which for QEMU without a guest agent is the ACPI power
	// button.
	err := withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Shutdown() })
	if err != nil && !isOperationInvalid(err) {
		return err
	}
	return p.refresh(lv, m)
}

// forceOff destroys a guest that did not shut down within its timeout.
func (p *Provider) forceOff(m *machine, d *deadline, timeout time.Duration) {
	if !p.enter() {
		return
	}
	defer p.wg.Done()
	m.op.Lock()
	defer m.op.Unlock()
	lv, err := p.conn.get()
	p.mu.Lock()
	current := m.shutdown == d && !m.gone && !p.closed
	if current && err != nil {
		// libvirt is away: the deadline stays, and fires again shortly.
		d.timer = time.AfterFunc(retryDelay, func() { p.forceOff(m, d, timeout) })
	} else if current {
		m.shutdown = nil
		m.expectStop, m.expectStopMessage = "ForcedOff", fmt.Sprintf("did not shut down within %s", timeout)
	}
	p.mu.Unlock()
	if !current || err != nil {
		return
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "ShutdownTimeout", "machine %s did not shut down within %s: forced off", m.id, timeout)
	if err := withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Destroy() }); err != nil && !isOperationInvalid(err) {
		p.log.Error(err, "forcing a machine off", "machine", m.id)
	}
	_ = p.refresh(lv, m)
}

// RebootMachine reboots a running machine, once per reboot_id.
func (p *Provider) RebootMachine(_ context.Context, req *runtimev1alpha1.RebootMachineRequest) (*runtimev1alpha1.RebootMachineResponse, error) {
	timeout, err := p.shutdownTimeout(req.GetShutdownTimeout())
	if err != nil {
		return nil, err
	}
	m, lv, err := p.acquire(req.GetMachineId(), true)
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	if err := p.refresh(lv, m); err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	p.mu.Lock()
	rebootID := req.GetRebootId()
	done := rebootID != "" && rebootID == m.rec.LastRebootID
	running := m.view.GetStatus().GetState() == runtimev1alpha1.MachineState_MACHINE_STATE_RUNNING && m.shutdown == nil
	pending := m.reboot != nil
	state := m.view.GetStatus().GetState()
	p.mu.Unlock()
	if done {
		return &runtimev1alpha1.RebootMachineResponse{Machine: p.viewOf(m)}, nil
	}
	if !running {
		return nil, status.Errorf(codes.FailedPrecondition, "machine %q is not running (%s)", m.id, state)
	}
	// Stored before the reboot, so that a retry after a crash does not reboot twice; taken back
	// when the reboot could not be asked for, so that a retry does.
	prevID := m.rec.LastRebootID
	next := m.rec.clone()
	next.LastRebootID = rebootID
	if err := p.writeRecord(lv, m, next); err != nil {
		return nil, grpcError("machine "+m.id, err)
	}
	if pending {
		// A reboot is waiting for the guest already: this one is folded into it.
		p.publish(m)
		return &runtimev1alpha1.RebootMachineResponse{Machine: p.viewOf(m)}, nil
	}
	if timeout == 0 {
		err = withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Reset(0) })
		if err == nil {
			p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Reset", "reset machine %s at once", m.id)
		}
	} else {
		p.mu.Lock()
		d := &deadline{}
		d.timer = time.AfterFunc(timeout, func() { p.forceReset(m, d, timeout) })
		m.reboot = d
		p.mu.Unlock()
		err = withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Reboot(0) })
	}
	if err != nil {
		p.mu.Lock()
		if m.reboot != nil {
			m.reboot.Stop()
			m.reboot = nil
		}
		p.mu.Unlock()
		back := m.rec.clone()
		back.LastRebootID = prevID
		_ = p.writeRecord(lv, m, back)
		return nil, grpcError("rebooting machine "+m.id, err)
	}
	p.publish(m)
	return &runtimev1alpha1.RebootMachineResponse{Machine: p.viewOf(m)}, nil
}

// forceReset resets a guest that did not reboot within its timeout.
func (p *Provider) forceReset(m *machine, d *deadline, timeout time.Duration) {
	if !p.enter() {
		return
	}
	defer p.wg.Done()
	m.op.Lock()
	defer m.op.Unlock()
	lv, err := p.conn.get()
	p.mu.Lock()
	current := m.reboot == d && !m.gone && !p.closed
	if current && err != nil {
		d.timer = time.AfterFunc(retryDelay, func() { p.forceReset(m, d, timeout) })
	} else if current {
		m.reboot = nil
	}
	p.mu.Unlock()
	if !current || err != nil {
		return
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "RebootTimeout", "machine %s did not reboot within %s: reset", m.id, timeout)
	if err := withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Reset(0) }); err != nil {
		p.log.Error(err, "resetting a machine", "machine", m.id)
	}
}

// resetDebounce is how close together guest resets count as one boot: one reboot of a QEMU guest
// through ACPI shows as two reset events (the guest's power-off turned into a reset by libvirt,
// and QEMU's own), about 100 ms apart.
const resetDebounce = 2 * time.Second

// rebooted counts a guest reset that libvirt reported as a boot. A reboot the provider asked for
// and is waiting on is done.
func (p *Provider) rebooted(lv *libvirt.Connect, m *machine) error {
	now := time.Now()
	p.mu.Lock()
	repeated := now.Sub(m.lastReset) < resetDebounce
	if !repeated {
		m.lastReset = now
	}
	p.mu.Unlock()
	if repeated {
		return nil
	}
	next := m.rec.clone()
	next.BootCount++
	next.BootTime = formatTime(p.opts.Now())
	if err := p.writeRecord(lv, m, next); err != nil {
		return err
	}
	p.mu.Lock()
	if m.reboot != nil {
		m.reboot.Stop()
		m.reboot = nil
		p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Rebooted", "rebooted machine %s", m.id)
	}
	p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
	p.mu.Unlock()
	return nil
}
