package libvirt

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Deleting a machine: DeleteMachine stores the deletion in the domain's metadata (so a restarted
// provider, or the reaper, finishes it) and returns TERMINATING; a goroutine shuts the guest down
// (forced after the timeout), undefines the domain, removes the machine's files and publishes
// the machine DELETED, retrying with backoff while libvirt is away.

// DeleteMachine marks a machine for deletion and removes it in the background.
func (p *Provider) DeleteMachine(_ context.Context, req *runtimev1alpha1.DeleteMachineRequest) (*runtimev1alpha1.DeleteMachineResponse, error) {
	timeout, err := p.shutdownTimeout(req.GetShutdownTimeout())
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	m, ok := p.machines[req.GetMachineId()]
	if ok && m.prepareCancel != nil {
		// An image pull in progress ends now rather than after the pull.
		m.prepareCancel()
	}
	p.mu.Unlock()
	if !ok {
		if err := p.usable(); err != nil {
			return nil, err
		}
		return &runtimev1alpha1.DeleteMachineResponse{}, nil
	}
	m, lv, err := p.acquire(req.GetMachineId(), false)
	if status.Code(err) == codes.NotFound {
		return &runtimev1alpha1.DeleteMachineResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer m.op.Unlock()
	p.mu.Lock()
	deleting := m.deleting
	p.mu.Unlock()
	if !deleting {
		next := m.rec.clone()
		next.DeleteTime = formatTime(p.opts.Now())
		if err := p.writeRecord(lv, m, next); err != nil {
			return nil, grpcError("machine "+m.id, err)
		}
		p.mu.Lock()
		m.deleting = true
		m.stopTimersLocked()
		p.publishLocked(m, runtimev1alpha1.ChangeType_CHANGE_TYPE_MODIFIED)
		p.eventLocked(m, runtimev1alpha1.EventType_EVENT_TYPE_NORMAL, "Deleting", "deleting machine %s", m.id)
		p.startDeletingLocked(m, timeout)
		p.mu.Unlock()
	}
	return &runtimev1alpha1.DeleteMachineResponse{Machine: p.viewOf(m)}, nil
}

// startDeletingLocked starts the goroutine that removes a machine marked for deletion.
func (p *Provider) startDeletingLocked(m *machine, timeout time.Duration) {
	if m.removing || p.closed {
		return
	}
	m.removing = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		backoff := time.Second
		for {
			err := p.remove(m, timeout)
			if err == nil || p.ctx.Err() != nil {
				return
			}
			p.log.Error(err, "deleting machine; retrying", "machine", m.id, "in", backoff)
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	}()
}

// remove shuts a machine's domain down (forced after timeout), undefines it, deletes the
// machine's files and the machine.
func (p *Provider) remove(m *machine, timeout time.Duration) error {
	lv, err := p.conn.get()
	if err != nil {
		return err
	}
	if err := p.stopForDeletion(lv, m, timeout); err != nil {
		return err
	}
	m.op.Lock()
	defer m.op.Unlock()
	err = withDomain(lv, m.id, func(dom *libvirt.Domain) error {
		if err := dom.Destroy(); err != nil && !isOperationInvalid(err) {
			return err
		}
		err := dom.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE |
			libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
		if err != nil && !isNoDomain(err) {
			// Drivers without some of the flags (the test driver) take a plain undefine.
			err = dom.Undefine()
		}
		return err
	})
	if err != nil && !isNoDomain(err) {
		return fmt.Errorf("undefining the domain of machine %s: %w", m.id, err)
	}
	if err := removeStaleSecrets(lv, m.id, nil, nil); err != nil {
		return fmt.Errorf("removing the libvirt secrets of machine %s: %w", m.id, err)
	}
	if err := os.RemoveAll(p.machineDir(m.id)); err != nil {
		return fmt.Errorf("removing the files of machine %s: %w", m.id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.goneLocked(m)
	return nil
}

// stopForDeletion shuts a running domain down gracefully, waiting up to timeout, and forces it
// off after that (warning event ShutdownTimeout). It does not hold m.op while it waits.
func (p *Provider) stopForDeletion(lv *libvirt.Connect, m *machine, timeout time.Duration) error {
	obs, err := observe(lv, m.id)
	if err != nil || !obs.active || timeout == 0 {
		return err
	}
	err = withDomain(lv, m.id, func(dom *libvirt.Domain) error { return dom.Shutdown() })
	if err != nil && !isOperationInvalid(err) {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if obs, err := observe(lv, m.id); err != nil || !obs.active {
			return err
		}
	}
	p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "ShutdownTimeout", "machine %s did not shut down within %s: forced off", m.id, timeout)
	return nil
}

// goneLocked removes a machine whose domain no longer exists: the last change is DELETED.
func (p *Provider) goneLocked(m *machine) {
	if m.gone {
		return
	}
	m.gone = true
	m.stopTimersLocked()
	delete(p.machines, m.id)
	view := m.view
	if view == nil {
		view = p.buildViewLocked(m)
	}
	p.history.Machine(runtimev1alpha1.ChangeType_CHANGE_TYPE_DELETED, view)
	p.revs.reserve(p.history.Revision(), p.log)
	if m.console != nil {
		m.console.close(nil)
	}
}
