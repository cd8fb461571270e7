package libvirt

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Syncing with libvirt: after every (re)connect and on every reaper pass, the provider reads the
// domains that carry Ferrite metadata and brings its machines in line with them — adopting the
// ones it does not hold (a restart), resuming preparations and deletions, publishing state that
// changed while it was not looking, and dropping machines whose domain vanished. Between syncs,
// libvirt's domain events trigger a refresh of the one machine they are about.

// sync rebuilds the machines from the domains.
func (p *Provider) sync(lv *libvirt.Connect) error {
	doms, err := lv.ListAllDomains(0)
	if err != nil {
		return fmt.Errorf("listing domains: %w", err)
	}
	seen := map[string]bool{}
	defer func() {
		for i := range doms {
			doms[i].Free()
		}
	}()
	for i := range doms {
		dom := &doms[i]
		name, err := dom.GetName()
		if err != nil {
			return err
		}
		id := machineIDOf(name)
		if id == "" {
			continue
		}
		rec, err := readRecord(dom)
		switch {
		case isConnectionError(err):
			return err
		case isNoDomain(err):
			continue // undefined since the listing (a deletion in progress)
		case err != nil:
			// Ferrite metadata that does not decode: half-made. The reaper removes it.
			p.log.Error(err, "domain with unreadable Ferrite metadata", "domain", name)
			continue
		case rec == nil:
			continue
		case rec.ID != id:
			p.log.Info("domain name and Ferrite metadata disagree; left alone", "domain", name, "metadataID", rec.ID)
			continue
		case rec.Instance != p.opts.Instance:
			continue // another provider's on the same libvirtd
		}
		seen[id] = true
		if err := p.syncDomain(lv, dom, rec); err != nil {
			if isConnectionError(err) {
				return err
			}
			p.log.Error(err, "syncing machine", "machine", id)
		}
	}

	// Machines whose domain is gone (undefined behind the provider's back): they are deleted.
	p.mu.Lock()
	var vanished []*machine
	for id, m := range p.machines {
		if m.defined && !seen[id] {
			vanished = append(vanished, m)
		}
	}
	p.mu.Unlock()
	for _, m := range vanished {
		m.op.Lock()
		obs, err := observe(lv, m.id)
		if err == nil && !obs.exists {
			p.mu.Lock()
			if !m.deleting {
				p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "DomainVanished", "the domain of machine %s was undefined outside the provider", m.id)
			}
			p.goneLocked(m)
			p.mu.Unlock()
		}
		m.op.Unlock()
	}
	return nil
}

// syncDomain brings the machine of one domain in line with it, adopting it when the provider does
// not hold it.
func (p *Provider) syncDomain(lv *libvirt.Connect, dom *libvirt.Domain, rec *record) error {
	p.mu.Lock()
	m, ok := p.machines[rec.ID]
	if !ok {
		m = &machine{id: rec.ID}
		m.op.Lock()
		p.machines[rec.ID] = m
		p.mu.Unlock()
	} else {
		p.mu.Unlock()
		m.op.Lock()
	}
	defer m.op.Unlock()
	p.mu.Lock()
	gone := m.gone
	p.mu.Unlock()
	if gone {
		return nil
	}
	return p.adoptDomain(lv, dom, rec, m)
}

// adoptDomain makes m (held with m.op) the machine of dom and resumes what it was doing: a
// preparation, a deletion, the start of a machine whose host went down while it ran, and its
// devices.
func (p *Provider) adoptDomain(lv *libvirt.Connect, dom *libvirt.Domain, rec *record, m *machine) error {
	spec, err := rec.spec()
	if err != nil {
		return err
	}
	if spec.GetUserData() != nil {
		data, err := p.readUserData(m.id)
		if err != nil {
			return fmt.Errorf("user data of machine %s: %w", m.id, err)
		}
		spec.UserData.Data = data
	}
	obs, err := observe(lv, m.id)
	if err != nil {
		return err
	}
	p.mu.Lock()
	m.rec, m.spec, m.defined, m.obs = rec, spec, true, obs
	m.deleting = rec.DeleteTime != ""
	if !rec.Prepared && m.pendingReason == "" {
		m.pendingReason, m.pendingMessage = "Creating", "resuming the preparation"
	}
	typ := runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED
	if m.view == nil {
		typ = runtimev1alpha1.ChangeType_CHANGE_TYPE_ADDED
	}
	p.publishLocked(m, typ)
	if m.deleting {
		p.startDeletingLocked(m, p.opts.ShutdownTimeout)
	}
	p.startPreparingLocked(m)
	p.mu.Unlock()
	if !rec.Prepared || m.deleting {
		return nil
	}
	if err := p.applyDevices(lv, m); err != nil {
		p.log.Error(err, "bringing the devices in line with the spec", "machine", m.id)
	}
	reason := libvirt.DomainShutoffReason(obs.reason)
	wantOn := spec.GetPower() == runtimev1alpha1.Power_POWER_ON
	switch {
	case !obs.active && rec.Running && wantOn &&
		(reason == libvirt.DOMAIN_SHUTOFF_UNKNOWN || reason == libvirt.DOMAIN_SHUTOFF_DAEMON):
		// It was running and stopped without anyone seeing why: the host (or libvirtd with it)
		// went down. It is meant to run, so it runs again.
		return p.start(lv, m, "Restarted", "started again: it stopped while the host or libvirtd was down")
	case !obs.active && !rec.Running && wantOn && failedStop(rec.StopReason):
		// It crashed, or did not start: the provider keeps trying, once per reaper pass.
		return p.start(lv, m, "Restarted", "started again after "+rec.StopReason)
	}
	return p.refresh(lv, m)
}

// domainEvent is what libvirt reported about a domain since the last time it was handled.
type domainEvent struct {
	// refresh: the domain's state may have changed.
	refresh bool
	// reset: the guest was reset (rebooted).
	reset bool
	// devices: the guest released a device.
	devices bool
}

// eventQueue collects domain events by domain name until the worker takes them; it never blocks
// libvirt's event loop and never drops an event (events for one domain merge).
type eventQueue struct {
	mu      sync.Mutex
	pending map[string]domainEvent
	signal  chan struct{}
	closed  bool
}

func newEventQueue() *eventQueue {
	return &eventQueue{pending: map[string]domainEvent{}, signal: make(chan struct{}, 1)}
}

func (q *eventQueue) add(name string, ev domainEvent) {
	if machineIDOf(name) == "" {
		return
	}
	q.mu.Lock()
	cur := q.pending[name]
	cur.refresh = cur.refresh || ev.refresh
	cur.devices = cur.devices || ev.devices
	cur.reset = cur.reset || ev.reset
	q.pending[name] = cur
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// take waits for events and returns them; ok is false once the queue is closed.
func (q *eventQueue) take() (map[string]domainEvent, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.pending) > 0 {
			out := q.pending
			q.pending = map[string]domainEvent{}
			q.mu.Unlock()
			return out, true
		}
		q.mu.Unlock()
		<-q.signal
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// processEvents hands each domain's events to a goroutine of its own (a machine's op lock orders
// them), so that a slow action on one machine does not hold up the others.
func (p *Provider) processEvents() {
	for {
		batch, ok := p.events.take()
		if !ok {
			return
		}
		for name, ev := range batch {
			p.mu.Lock()
			m := p.machines[machineIDOf(name)]
			p.mu.Unlock()
			if m == nil {
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handleEvent(m, ev)
			}()
		}
	}
}

func (p *Provider) handleEvent(m *machine, ev domainEvent) {
	m.op.Lock()
	defer m.op.Unlock()
	p.mu.Lock()
	skip := m.gone || !m.defined || p.closed
	p.mu.Unlock()
	if skip {
		return
	}
	lv, err := p.conn.get()
	if err != nil {
		return // the sync after the reconnect catches up
	}
	if ev.reset {
		if err := p.rebooted(lv, m); err != nil {
			p.log.Error(err, "recording a reboot", "machine", m.id)
		}
	}
	if ev.devices {
		if err := p.applyDevices(lv, m); err != nil {
			p.log.Error(err, "bringing the devices in line with the spec", "machine", m.id)
		}
	}
	if err := p.refresh(lv, m); err != nil {
		p.log.Error(err, "refreshing machine", "machine", m.id)
	}
}

func cloneSpec(s *runtimev1alpha1.MachineSpec) *runtimev1alpha1.MachineSpec {
	return proto.Clone(s).(*runtimev1alpha1.MachineSpec)
}
